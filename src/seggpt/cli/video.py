"""`seggpt video`: segment the objects of a first-frame mask through a video (DAVIS-format results)."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any, get_args

import torch
from tqdm import tqdm

from seggpt.atomic import clean_stale_temps
from seggpt.data.davis import find_first_annotation
from seggpt.data.io import load_rgb
from seggpt.inference.precision import COMPILE_HELP, DTYPE_HELP, PRECISIONS
from seggpt.inference.video import VideoSegmenter
from seggpt.inference.video_io import (
    FrameSource,
    OverlayWriter,
    ResultWriter,
    check_indexed_ids,
    davis_palette,
    read_first_mask,
)
from seggpt.model import load_model
from seggpt.model.seggpt import SegType
from seggpt.safety import check_device, check_not_inputs, check_output_file, check_output_folder

EPILOG = """examples:
  seggpt video --input video_1.mp4 --first-frame video_1.jpg --first-mask video_1_target.png \\
      --output results/video_1 --overlay results/video_1.mp4
  seggpt video --input DAVIS/JPEGImages/480p/dog --output results/dog      # mask from Annotations/480p/dog
  seggpt video --input frames/ --first-mask frames_mask.png --memory 4 --no-keep-first --output out --rle

The first mask is a label map of object ids (an indexed PNG such as DAVIS 2017's, or grey ids); a
white-on-black mask is one object. Results: one indexed PNG per frame, named after the input frames
(pixel value = object id, the first mask's palette), at the frames' size. A folder reused for
another video loses the earlier run's frames; one holding PNGs seggpt did not write is refused. A video
file that decodes to fewer frames than it declares (truncated) gives a warning, or an error with --strict.
"""


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
    parser.add_argument("--memory", type=int, default=8, metavar="K", help="recent predicted frames kept (default 8)")
    parser.add_argument(
        "--no-keep-first", dest="keep_first", action="store_false", help="let the first frame leave the memory"
    )
    parser.add_argument("--output", required=True, type=Path, metavar="DIR", help="folder for the indexed PNGs")
    parser.add_argument(
        "--model",
        default="seggpt-default",
        metavar="NAME|PATH",
        help="checkpoint file or name: seggpt-default (the small embedded model) or seggpt-vit-large (%(default)s)",
    )
    parser.add_argument("--overlay", type=Path, metavar="OUT.mp4", help="also write an overlay video")
    parser.add_argument("--rle", action="store_true", help="also write DIR/masks_rle.json (COCO RLE per object)")
    parser.add_argument("--seg-type", choices=get_args(SegType), default="instance")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument("--dtype", choices=PRECISIONS, default="auto", help=DTYPE_HELP)
    parser.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    parser.add_argument(
        "--strict", action="store_true", help="fail (writing nothing) when a video decodes to fewer frames than it says"
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Check every input, load the model, segment the video and write the results atomically."""
    if args.memory < 0 or (args.memory == 0 and not args.keep_first):
        raise ValueError(f"--memory must be >= 1 (or 0 with the first frame kept), got {args.memory}")
    check_device(args.device)
    source = FrameSource(args.input)
    mask_path = args.first_mask or _default_mask(source)
    _check_outputs(args, source, mask_path)
    first_mask, png_palette = read_first_mask(mask_path)
    check_indexed_ids(first_mask, f"first mask {mask_path}")
    if not first_mask.any():
        raise ValueError(f"first mask {mask_path} holds no object (every pixel is 0)")
    palette = png_palette if png_palette is not None else davis_palette()
    first_frame = load_rgb(args.first_frame) if args.first_frame else None
    if first_frame is not None and first_frame.shape[:2] != first_mask.shape:
        raise ValueError(
            f"first mask {mask_path} has size {first_mask.shape}, but the first frame {args.first_frame} has "
            f"{first_frame.shape[:2]} (H, W)"
        )
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_model(args.model, device=device)
    segmenter = VideoSegmenter(
        model, memory=args.memory, keep_first=args.keep_first, seg_type=args.seg_type, dtype=args.dtype,
        compile=args.compile,
    )  # fmt: skip

    state = segmenter.init_state(first_frame, first_mask) if first_frame is not None else None
    overlay = OverlayWriter(args.overlay, source.fps, palette) if args.overlay else contextlib.nullcontext()
    decoded = 0
    with ResultWriter(args.output, palette, rle=args.rle) as results, overlay as video:
        for frame in tqdm(source, total=source.count, unit="frame", desc=f"seggpt video {args.input.name}"):
            decoded += 1
            if state is None:  # the video's own first frame is the prompt
                if frame.rgb.shape[:2] != first_mask.shape:
                    raise ValueError(
                        f"first mask {mask_path} has size {first_mask.shape}, but the frames of {args.input} "
                        f"are {frame.rgb.shape[:2]} (H, W)"
                    )
                state, labels = segmenter.init_state(frame.rgb, first_mask), first_mask
            else:
                labels = segmenter.step(state, frame.rgb)
            results.write(frame.name, labels)
            if video is not None:
                video.write(frame.rgb, labels)
        if source.count is not None and decoded < source.count:
            short = f"{args.input} declares {source.count} frames but only {decoded} could be decoded (truncated?)"
            if args.strict:
                raise ValueError(f"{short}; nothing was written (--strict)")
            print(f"seggpt video: warning: {short}; the results hold those {decoded}", file=sys.stderr)
    print(f"wrote {args.output}" + (f" and {args.overlay}" if args.overlay else ""))
    return 0


def _check_outputs(args: argparse.Namespace, source: FrameSource, mask_path: Path) -> None:
    """Before any model work: outputs writable, none of them an input; litter of killed runs removed."""
    check_output_folder(args.output, "--output")
    outputs = [args.output / f"{name}.png" for name in source.frame_names] + [args.output / "masks_rle.json"]
    if args.overlay is not None:
        check_output_file(args.overlay, "--overlay")
        outputs.append(args.overlay)
    inputs = [*source.files, mask_path, *([args.first_frame] if args.first_frame else [])]
    check_not_inputs(outputs, inputs if source.files else [*inputs, source.path])
    for folder in {args.output.parent, *([args.overlay.parent] if args.overlay else [])}:
        clean_stale_temps(folder)


def _default_mask(source: FrameSource) -> Path:
    folder = source.frames_folder
    mask = find_first_annotation(folder, source.first_name) if folder is not None else None
    if mask is None:
        raise ValueError(
            f"no --first-mask given and no DAVIS / YouTube-VOS annotation found for {source.path} "
            "(expected .../JPEGImages/<seq>/ beside .../Annotations/<seq>/<first frame>.png)"
        )
    return mask
