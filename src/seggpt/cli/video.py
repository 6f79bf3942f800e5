"""`seggpt video`: segment the objects of a first-frame mask through a video (DAVIS-format results)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, get_args

from tqdm import tqdm

from seggpt import VideoSegmenter, load_model
from seggpt.data import load_rgb
from seggpt.inference import (
    COMPILE_HELP,
    DEVICE_HELP,
    DTYPE_HELP,
    PRECISIONS,
    VIDEO_OUTPUTS,
    Frame,
    FrameSource,
    check_memory,
    check_video_outputs,
    default_first_mask,
    formats_help,
    load_first_mask,
    run_video,
)
from seggpt.model import SegType, checkpoint_files
from seggpt.safety import check_output_file, check_output_folder, resolve_device

EPILOG = """examples:
  seggpt video --input video_1.mp4 --first-frame video_1.jpg --first-mask video_1_target.png \\
      --output results/video_1 --overlay results/video_1.mp4
  seggpt video --input DAVIS/JPEGImages/480p/dog --output results/dog      # mask from Annotations/480p/dog
  seggpt video --input frames/ --first-mask frames_mask.png --memory 4 --no-keep-first --output out --rle

The first mask is a label map of object ids (an indexed PNG such as DAVIS 2017's, or grey ids); a
white-on-black mask is one object. Results are at the frames' size. A folder reused for
another video loses the earlier run's frames; one holding PNGs seggpt did not write is refused. A video
file that decodes to fewer frames than it declares (truncated) gives a warning, or an error with --strict.
"""
EPILOG += formats_help(VIDEO_OUTPUTS, "outputs: ", "Each appears only when the whole video succeeded.")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `video` on the `seggpt` command's subparsers."""
    parser = subparsers.add_parser(
        "video",
        help="segment objects through a video from a first-frame mask",
        description="Video object segmentation with no video training (paper section 2): the first frame "
        "and its mask are the prompt, and the last K predicted frames join it through the feature ensemble.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", required=True, type=Path, metavar="VIDEO|DIR", help="video file or frames folder")
    parser.add_argument(
        "--first-mask",
        type=Path,
        metavar="PNG",
        help="mask of the first frame (label map of object ids); default: the DAVIS / YouTube-VOS "
        "annotation of the first frame (JPEGImages/... -> Annotations/.../<first frame>.png)",
    )
    parser.add_argument(
        "--first-frame",
        type=Path,
        metavar="IMAGE",
        help="the image the first mask belongs to, if it is not the video's first frame (then every frame "
        "of the video is predicted)",
    )
    parser.add_argument(
        "--memory",
        type=int,
        default=8,
        metavar="K",
        help="recent predicted frames kept (default 8, the paper's; 1 is ~2.7x faster on a CPU at a small cost "
        "in accuracy, ~3.6x with --no-keep-first: README, Benchmarks)",
    )
    parser.add_argument(
        "--no-keep-first", dest="keep_first", action="store_false", help="let the first frame leave the memory"
    )
    parser.add_argument("--output", required=True, type=Path, metavar="DIR", help="folder of the frames output")
    parser.add_argument(
        "--model",
        default="seggpt-default",
        metavar="NAME|PATH",
        help="checkpoint file or name: seggpt-default (the small embedded model, default) or seggpt-vit-large",
    )
    parser.add_argument("--overlay", type=Path, metavar="OUT.mp4", help="also write the overlay output")
    parser.add_argument(
        "--rle",
        action="store_true",
        help="the frames output also holds DIR/masks_rle.json (COCO RLE per frame and object)",
    )
    parser.add_argument(
        "--seg-type",
        choices=get_args(SegType),
        default="instance",
        help="type token: instance (default) or semantic",
    )
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--dtype", choices=PRECISIONS, default="auto", help=DTYPE_HELP)
    parser.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    parser.add_argument(
        "--strict", action="store_true", help="fail (writing nothing) when a video decodes to fewer frames than it says"
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check every input, load the model, segment the video and write the results atomically."""
    check_memory(args.memory, args.keep_first, "--memory")
    device = resolve_device(args.device)
    source = FrameSource(args.input)
    mask_path = args.first_mask or default_first_mask(source)
    check_output_folder(args.output, "--output")
    outputs = {"frames": args.output}
    if args.overlay is not None:
        check_output_file(args.overlay, "--overlay")
        outputs["overlay"] = args.overlay
    prompts = [mask_path, *([args.first_frame] if args.first_frame else []), *checkpoint_files(args.model)]
    check_video_outputs(outputs, source, prompts)
    first = load_first_mask(mask_path)
    first_frame = Frame(str(args.first_frame), load_rgb(args.first_frame)) if args.first_frame else None
    if first_frame is not None:
        first.check_size(first_frame.rgb.shape[:2], f"the first frame {first_frame.name} has")
    segmenter = VideoSegmenter(
        load_model(args.model, device=device), memory=args.memory, keep_first=args.keep_first,
        seg_type=args.seg_type, dtype=args.dtype, compile=args.compile,
    )  # fmt: skip
    with tqdm(total=source.count, unit="frame", desc=f"seggpt video {args.input.name}") as progress:
        counts = run_video(
            segmenter, source, first, outputs, fps=source.fps, rle=args.rle, first_frame=first_frame,
            video_name=str(args.input), declared=source.count, strict=args.strict,
            on_frame=lambda done: progress.update(1),
        )  # fmt: skip
    if counts.truncated:
        print(f"seggpt video: warning: {counts.shortfall(str(args.input))}; the results hold those {counts.frames}",
              file=sys.stderr)  # fmt: skip
    print(f"wrote {args.output}" + (f" and {args.overlay}" if args.overlay else ""))
    return 0
