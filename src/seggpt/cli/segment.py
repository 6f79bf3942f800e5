"""`seggpt segment`: segment images like the given examples (prompt images with masks)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, get_args

from tqdm import tqdm

from seggpt import Segmenter, load_model
from seggpt.cli.errors import NothingDoneError
from seggpt.cli.options import add_prompt_options
from seggpt.inference import (
    COMPILE_HELP,
    DEVICE_HELP,
    DTYPE_HELP,
    OUTPUTS,
    PRECISIONS,
    Ensemble,
    Resize,
    Shard,
    Upsample,
    check_outputs,
    collect_inputs,
    formats_help,
    join_shards,
    leave_shards,
    load_tuned_prompt,
    parse_formats,
    segment_files,
)
from seggpt.model import SegType, checkpoint_files
from seggpt.safety import check_output_folder, resolve_device

EPILOG = """examples:
  # one example image with its mask; segment one image
  seggpt segment --prompt cat.jpg cat_mask.png --input query.jpg --output out/
  # three examples (feature ensemble), a whole folder, label maps and overlays, on the GPU in fp16
  seggpt segment --prompt a.jpg a.png --prompt b.jpg b.png --prompt c.jpg c.png \\
      --input photos/ --output out/ --format label,overlay --device cuda --dtype fp16
  # a CamVid label map as prompt (11 = void), semantic type, resume an interrupted run
  seggpt segment --prompt 0001.png 0001_L.png --ignore-value 11 --type semantic \\
      --input 'val/*.png' --output out/ --skip-existing

Refused before any model work: an output that is an input image, a prompt image or mask; two inputs or
formats writing one file. Exit status: 0 done, 1 nothing segmented (every input failed or none found),
2 a bad argument or file.
Under `torchrun --nproc-per-node N seggpt segment ...` each rank segments every N-th batch of the sorted
inputs, with the same outputs as one process; --skip-existing resumes each shard.
"""
EPILOG += formats_help(OUTPUTS, "outputs per input STEM: ", "Files are written atomically.")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `segment` on the `seggpt` command's subparsers."""
    p = subparsers.add_parser(
        "segment",
        help="segment images like the given example images with masks",
        description="Segment the same kind of thing as in the prompt examples (images with masks) in new images.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_prompt_options(p, "an example to follow")
    p.add_argument(
        "--tuned-prompt",
        type=Path,
        metavar="FILE",
        help="a prompt learned by `seggpt tune` instead of --prompt examples; outputs are its class ids",
    )
    p.add_argument(
        "--input",
        nargs="+",
        required=True,
        metavar="FILE|DIR|GLOB",
        help="images to segment: files, folders (every readable image inside; unreadable files are "
        "skipped with a warning) or quoted glob patterns such as 'photos/*.jpg'",
    )
    p.add_argument("--output", required=True, type=Path, metavar="DIR", help="folder for the results (created)")
    p.add_argument(
        "--model",
        default="seggpt-default",
        metavar="NAME|PATH",
        help="checkpoint file, transformers folder or a name: seggpt-default (the small model shipped in the package, "
        "default) or seggpt-vit-large (the released ViT-L, from the cache or downloaded)",
    )
    p.add_argument(
        "--config",
        metavar="JSON",
        help="architecture of an official-layout checkpoint that is not ViT-L (JSON or preset name)",
    )
    p.add_argument(
        "--ensemble",
        choices=get_args(Ensemble),
        default="feature",
        help="combining several prompts: feature (averaged query features, default), spatial (prompts "
        "tiled in an n x n grid), none (each prompt alone, colour outputs averaged)",
    )
    p.add_argument(
        "--format",
        default="label",
        metavar="LIST",
        help=f"comma-separated outputs among {','.join(OUTPUTS)} (default: %(default)s)",
    )
    p.add_argument(
        "--type",
        dest="seg_type",
        choices=get_args(SegType),
        default="instance",
        help="type token: instance (default, as the official CLI) or semantic",
    )
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--dtype", choices=PRECISIONS, default="auto", help=DTYPE_HELP)
    p.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    p.add_argument(
        "--resize",
        choices=get_args(Resize),
        default="stretch",
        help="stretch to the model's square input (official, default) or pad to keep the aspect ratio",
    )
    p.add_argument(
        "--upsample",
        choices=get_args(Upsample),
        default="nearest",
        help="nearest: decode then resize labels (official, default); bilinear: resize colours, decode",
    )
    p.add_argument("--batch-size", type=int, default=4, metavar="N", help="images per forward pass (default: 4)")
    p.add_argument(
        "--skip-existing",
        action="store_true",
        help="skip inputs whose outputs all exist already and are newer than the input (resume an interrupted "
        "run); outputs written with another model, prompt or setting are refused",
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Segment this process's shard of the inputs (all of them without torchrun)."""
    shard = join_shards()
    try:
        return segment_shard(args, shard)
    finally:
        leave_shards(shard)


def segment_shard(args: argparse.Namespace, shard: Shard) -> int:
    """Load the model and prompts, segment the shard's inputs, write the outputs, print a summary line."""
    formats = parse_formats(args.format)
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be at least 1, got {args.batch_size}")
    args.device = resolve_device(args.device)
    if (args.prompt is None) == (args.tuned_prompt is None):
        raise ValueError("give either --prompt IMAGE MASK (one or more) or --tuned-prompt FILE")
    inputs = collect_inputs(args.input)
    if not inputs:
        raise NothingDoneError(f"--input {' '.join(args.input)}: no files found; expected images to segment")
    check_output_folder(args.output, "--output")
    protected = [Path(p) for pair in args.prompt or [] for p in pair]
    protected += [*checkpoint_files(args.model), *([args.tuned_prompt] if args.tuned_prompt else [])]
    folders = [Path(spec).expanduser() for spec in args.input if Path(spec).expanduser().is_dir()]
    check_outputs(args.output, [f.path for f in inputs], formats, protected, input_folders=folders)
    inputs = shard.take(inputs, block=args.batch_size)  # whole batches: the same outputs as one process
    args.device = shard.device(args.device)
    model = load_model(args.model, config=args.config, device=args.device)
    segmenter = Segmenter(
        model,
        seg_type=args.seg_type,
        ensemble=args.ensemble,
        resize=args.resize,
        upsample=args.upsample,
        device=args.device,
        dtype=args.dtype,
        batch_size=args.batch_size,
        compile=args.compile,
    )
    if args.tuned_prompt is not None:
        segmenter.set_tuned_prompt(load_tuned_prompt(args.tuned_prompt, model))
    else:
        segmenter.set_prompts([p[0] for p in args.prompt], [p[1] for p in args.prompt], ignore_value=args.ignore_value)
    with tqdm(total=len(inputs), unit="image", disable=len(inputs) < 2, file=sys.stderr) as progress:

        def report(path: Path, problem: str | None) -> None:
            progress.update(1)
            if problem is not None:
                tqdm.write(f"seggpt segment: warning: skipping {path}: {problem}", file=sys.stderr)

        counts = segment_files(
            segmenter, inputs, args.output, formats, skip_existing=args.skip_existing, on_progress=report
        )
    tag = f" [rank {shard.rank} of {shard.world_size}]" if shard.world_size > 1 else ""
    print(
        f"segment{tag}: {counts.written} written, {counts.skipped} skipped (existing), {counts.failed} failed "
        f"(unreadable) -> {args.output}"
    )
    if counts.written + counts.skipped == 0:
        raise NothingDoneError(f"no image was segmented: all {counts.failed} inputs were unreadable")
    return 0
