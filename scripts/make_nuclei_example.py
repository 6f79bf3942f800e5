"""Cut the README's Quick start example from the DSB-2018 nuclei image (BSD-3-Clause, via the stardist wheel).

    python scripts/make_nuclei_example.py ../shared/data/examples/dsb2018_nuclei --output examples/nuclei

The 512x512 fluorescence image is split into a 4x4 grid of 128x128 tiles (grey levels stretched from the image's
min..max to 0..255, as RGB PNG). The two left tiles of the top row become the prompts (`prompt_<i>.png` with a
white-on-black `prompt_<i>_mask.png`: 255 = nucleus), the four tiles of the bottom row the queries
(`queries/query_<j>.png`) with their truth (`truth/query_<j>.png`, same encoding). The tiles are chosen by
position, before looking at any answer; the other ten tiles stay out of the repository.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

TILE = 128
PROMPT_TILES = [(0, 0), (0, 1)]  # (row, column) in the 4x4 grid
QUERY_TILES = [(3, 0), (3, 1), (3, 2), (3, 3)]


def read_source(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(512, 512, 3) uint8 grey image stretched to 0..255 and (512, 512) uint8 mask (255 = any nucleus)."""
    image = np.asarray(Image.open(folder / "img2d.tif"), dtype=np.float64)
    instances = np.asarray(Image.open(folder / "mask2d.tif"))
    grey = np.round((image - image.min()) / (image.max() - image.min()) * 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=2), np.where(instances > 0, 255, 0).astype(np.uint8)


def tile(array: np.ndarray, row: int, col: int) -> np.ndarray:
    return array[row * TILE : (row + 1) * TILE, col * TILE : (col + 1) * TILE]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="folder with img2d.tif and mask2d.tif")
    parser.add_argument("--output", type=Path, required=True, help="folder to write")
    args = parser.parse_args()
    image, mask = read_source(args.source)
    (args.output / "queries").mkdir(parents=True, exist_ok=True)
    (args.output / "truth").mkdir(parents=True, exist_ok=True)
    for i, (r, c) in enumerate(PROMPT_TILES):
        Image.fromarray(tile(image, r, c)).save(args.output / f"prompt_{i}.png")
        Image.fromarray(tile(mask, r, c)).save(args.output / f"prompt_{i}_mask.png")
    for j, (r, c) in enumerate(QUERY_TILES):
        Image.fromarray(tile(image, r, c)).save(args.output / "queries" / f"query_{j}.png")
        Image.fromarray(tile(mask, r, c)).save(args.output / "truth" / f"query_{j}.png")
    print(f"wrote {len(PROMPT_TILES)} prompts and {len(QUERY_TILES)} queries with truth to {args.output}")


if __name__ == "__main__":
    main()
