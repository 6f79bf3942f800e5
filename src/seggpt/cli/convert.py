"""`seggpt convert`: any supported checkpoint -> our safetensors file that carries its config."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from seggpt.atomic import clean_stale_temps
from seggpt.model import checkpoint_files, config_files, load_model, save_model
from seggpt.safety import check_not_inputs, check_output_file

EPILOG = """examples:
  seggpt convert seggpt_vit_large.pth seggpt_vit_large.safetensors
  seggpt convert ./seggpt-vit-large-hf/ model.safetensors              # transformers folder
  seggpt convert finetuned.pth small.safetensors --config config.json  # official layout, other size
  seggpt convert seggpt-vit-large large_640.safetensors --image-size 640 320
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `convert` on the `seggpt` command's subparsers."""
    parser = subparsers.add_parser(
        "convert",
        help="convert a checkpoint (official .pth, transformers, ours) to a self-describing .safetensors",
        description="Convert a SegGPT checkpoint (official .pth, a transformers folder or file, or ours) to a "
        "safetensors file that carries its config, so `seggpt.load_model(DST)` needs nothing else. The file "
        "is written atomically.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "src",
        metavar="SRC",
        help="checkpoint file, transformers folder, or a name "
        "such as seggpt-vit-large (from the cache folder, $SEGGPT_CACHE)",
    )
    parser.add_argument("dst", metavar="DST", type=Path, help="output .safetensors file")
    parser.add_argument(
        "--config",
        metavar="JSON",
        help="architecture of an official-layout file that is not "
        "the released ViT-L: a JSON file with SegGPTConfig keys (or a preset name)",
    )
    parser.add_argument(
        "--image-size",
        nargs=2,
        type=int,
        metavar=("H", "W"),
        help="canvas size to store (position tables are resized), e.g. 896 448",
    )
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Load SRC strictly, write DST; print one summary line."""
    image_size = tuple(args.image_size) if args.image_size else None
    check_output_file(args.dst, "DST")
    check_not_inputs([args.dst], [*checkpoint_files(args.src), *config_files(args.config)])
    clean_stale_temps(args.dst.parent)
    model = load_model(args.src, config=args.config, image_size=image_size)  # type: ignore[arg-type]
    path = save_model(model, args.dst)
    num_params = sum(p.numel() for p in model.parameters())
    H, W = model.config.image_size
    print(
        f"wrote {path}: {num_params:,} parameters, canvas {H}x{W}, embed_dim {model.config.embed_dim}, "
        f"depth {model.config.depth}"
    )
    return 0
