"""Options that several commands share, written once: the example prompts of `segment` and `tune`."""

from __future__ import annotations

import argparse

MASK_FORMS = (
    "MASK: binary (0/1, 0/255, white on black), a label map (uint8/uint16 PNG/TIFF, 0 = background) or an RGB "
    "colour target"
)


def add_prompt_options(parser: argparse.ArgumentParser, purpose: str) -> None:
    """`--prompt IMAGE MASK` (repeatable) and `--ignore-value V`, read by `encode_prompt_masks`'s rules."""
    parser.add_argument(
        "--prompt",
        nargs=2,
        action="append",
        metavar=("IMAGE", "MASK"),
        help=f"{purpose}: an image and its mask (repeat for several). {MASK_FORMS}",
    )
    parser.add_argument(
        "--ignore-value",
        type=int,
        metavar="V",
        help="label value of unlabelled pixels in label-map prompts (e.g. 255 for VOC, 11 for CamVid)",
    )
