"""`seggpt segment`: segment images like the given examples (prompt images with masks)."""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import Any, get_args

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from seggpt import Segmenter, load_model
from seggpt.atomic import clean_stale_temps
from seggpt.cli.errors import NothingDoneError
from seggpt.data.io import load_rgb
from seggpt.inference.precision import COMPILE_HELP, DTYPE_HELP, PRECISIONS
from seggpt.inference.prediction import Upsample
from seggpt.inference.segmenter import Ensemble, Resize
from seggpt.inference.shard import Shard, join_shards, leave_shards
from seggpt.inference.tuned_prompt import load_tuned_prompt
from seggpt.inference.writers import OUTPUTS, output_paths, parse_formats, write_outputs
from seggpt.model.seggpt import SegType
from seggpt.safety import (
    OutputError,
    check_device,
    check_no_collisions,
    check_not_inputs,
    check_output_folder,
    entry_key,
)

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
EPILOG += textwrap.fill(
    "outputs per input STEM: "
    + ", ".join(f"{name} -> {fmt.help}" for name, fmt in OUTPUTS.items())
    + ". Files are written atomically.",
    width=100,
)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `segment` on the `seggpt` command's subparsers."""
    p = subparsers.add_parser(
        "segment",
        help="segment images like the given example images with masks",
        description="Segment the same kind of thing as in the prompt examples (images with masks) in new images.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--prompt",
        nargs=2,
        action="append",
        metavar=("IMAGE", "MASK"),
        help="an example image and its mask (repeat for several). MASK: binary (0/1, 0/255, white on "
        "black), a label map (uint8/uint16 PNG/TIFF, 0 = background) or an RGB colour target",
    )
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
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: %(default)s)")
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
        help="skip inputs whose outputs all exist already (resume an interrupted run)",
    )
    p.add_argument(
        "--ignore-value",
        type=int,
        metavar="V",
        help="label value of unlabelled pixels in label-map prompts (e.g. 255 for VOC, 11 for CamVid)",
    )
    p.set_defaults(run=run)
    return p


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def collect_inputs(specs: list[str]) -> list[tuple[Path, bool]]:
    """Expand FILE|DIR|GLOB specs to (path, named) pairs; `named` files must be readable, others may be skipped."""
    found: list[tuple[Path, bool]] = []
    for spec in specs:
        path = Path(spec).expanduser()
        if path.is_file():
            found.append((path, True))
        elif path.is_dir():
            found.extend((f, False) for f in sorted(path.iterdir()) if f.is_file() and not f.name.startswith("."))
        elif _is_glob(spec):
            matches = sorted(Path(m) for m in glob.glob(str(path)) if Path(m).is_file())
            if not matches:
                raise ValueError(f"--input {spec!r} matched no files; expected a glob matching at least one image")
            found.extend((m, False) for m in matches)
        else:
            raise FileNotFoundError(f"--input {spec}: no such file or folder")
    stems: dict[str, Path] = {}
    for f, _ in found:
        if f.stem in stems and stems[f.stem] != f:
            raise ValueError(f"inputs {stems[f.stem]} and {f} would write the same outputs (same name {f.stem!r})")
        stems[f.stem] = f
    return list(dict.fromkeys(found))


_PROBE_ID = 987654321  # a class id no prompt has: marks where a format's file names hold the class id
_PROBE_STEM = "\x00stem\x00"


def _id_patterns(out_dir: Path, formats: list[str]) -> list[re.Pattern[str]]:
    """For each format whose file names hold class ids (unknown before the prompts are read): a regex of its
    names, group 1 = the input stem."""
    patterns = []
    for fmt in formats:
        with_id = set(output_paths(out_dir, _PROBE_STEM, [fmt], np.array([_PROBE_ID])))
        for path in with_id - set(output_paths(out_dir, _PROBE_STEM, [fmt], np.zeros(0, np.int64))):
            template = re.escape(path.name).replace(re.escape(_PROBE_STEM), "(.+)").replace(str(_PROBE_ID), r"\d+")
            patterns.append(re.compile(template))
    return patterns


def check_outputs(out_dir: Path, inputs: list[Path], formats: list[str], protected: list[Path]) -> None:
    """Refuse, before any model work, outputs that are inputs (or `protected` files) and outputs written twice.

    The class ids are not known yet, so a name such as `STEM_mask_<digits>.png` counts as an output of STEM.
    """
    no_ids = np.zeros(0, np.int64)
    planned = [
        (path, f"the {fmt} output of {source}")
        for source in inputs
        for fmt in formats
        for path in output_paths(out_dir, source.stem, [fmt], no_ids)
    ]
    check_no_collisions(planned)
    check_not_inputs([path for path, _ in planned], [*inputs, *protected])
    patterns = _id_patterns(out_dir, formats)
    if not patterns:
        return
    owners = {source.stem: source for source in inputs}
    out_key = os.path.realpath(out_dir)
    taken = planned + [
        (Path(alias), f"the input {source}")
        for source in [*inputs, *protected]
        for alias in (os.path.realpath(source), entry_key(source))
        if os.path.dirname(alias) == out_key
    ]
    for path, what in taken:
        for pattern in patterns:
            match = pattern.fullmatch(path.name)
            if match and match.group(1) in owners:
                raise OutputError(
                    f"{out_dir / path.name} would be both an output of {owners[match.group(1)]} and {what}; "
                    "choose another output folder or rename the input"
                )


def segment_all(
    segmenter: Segmenter,
    inputs: list[tuple[Path, bool]],
    out_dir: Path,
    formats: list[str],
    batch_size: int,
    skip_existing: bool,
    progress: tqdm,
) -> dict[str, int]:
    """Read, segment and write every input in batches; unreadable folder/glob files are skipped and counted."""
    counts = {"written": 0, "skipped": 0, "failed": 0}
    pending: list[tuple[Path, NDArray[np.uint8]]] = []

    def flush() -> None:
        for (source, _), prediction in zip(pending, segmenter.segment([image for _, image in pending])):
            write_outputs(out_dir, source, prediction, formats)
            counts["written"] += 1
            progress.update(1)
        pending.clear()

    for path, named in inputs:
        if skip_existing and all(p.exists() for p in output_paths(out_dir, path.stem, formats, segmenter.class_ids)):
            counts["skipped"] += 1
            progress.update(1)
            continue
        try:
            pending.append((path, load_rgb(path)))
        except ValueError as err:
            if named:
                raise
            counts["failed"] += 1
            progress.update(1)
            tqdm.write(f"seggpt segment: warning: skipping {path}: {err}", file=sys.stderr)
        if len(pending) == batch_size:
            flush()
    flush()
    return counts


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
    check_device(args.device)
    if (args.prompt is None) == (args.tuned_prompt is None):
        raise ValueError("give either --prompt IMAGE MASK (one or more) or --tuned-prompt FILE")
    inputs = collect_inputs(args.input)
    if not inputs:
        raise NothingDoneError(f"--input {' '.join(args.input)}: no files found; expected images to segment")
    check_output_folder(args.output, "--output")
    protected = [Path(p) for pair in args.prompt or [] for p in pair]
    protected += [p for p in (args.tuned_prompt, Path(args.model)) if p is not None and p.is_file()]
    check_outputs(args.output, [path for path, _ in inputs], formats, protected)
    clean_stale_temps(args.output)
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
        segmenter.set_tuned_prompt(load_tuned_prompt(args.tuned_prompt))
    else:
        segmenter.set_prompts([p[0] for p in args.prompt], [p[1] for p in args.prompt], ignore_value=args.ignore_value)
    with tqdm(total=len(inputs), unit="image", disable=len(inputs) < 2, file=sys.stderr) as progress:
        counts = segment_all(segmenter, inputs, args.output, formats, args.batch_size, args.skip_existing, progress)
    tag = f" [rank {shard.rank} of {shard.world_size}]" if shard.world_size > 1 else ""
    print(
        f"segment{tag}: {counts['written']} written, {counts['skipped']} skipped (existing), {counts['failed']} failed "
        f"(unreadable) -> {args.output}"
    )
    if counts["written"] + counts["skipped"] == 0:
        raise NothingDoneError(f"no image was segmented: all {counts['failed']} inputs were unreadable")
    return 0
