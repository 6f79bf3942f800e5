"""Render the repository's example inputs: synthetic scenes with their masks (no external data).

    python scripts/make_examples.py --output examples/shapes --task shape --prompts 2 --queries 4

Writes `prompt_<i>.png` + `prompt_<i>_mask.png` (a label map), `queries/query_<j>.png` and their ground
truth `truth/query_<j>.png`, from scenes of a seed the default model never trained on. It also writes a
held-out set in the `images/` + `labels/` layout for `seggpt eval semantic` with `--split-set`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from seggpt.training.synthetic import SYNTHETIC_TASKS, render_scene, task_labels

HELD_OUT_SEED = 1_000_003  # training uses seed 0; these scenes are never seen in training


def save_pair(scene_index: int, seed: int, task: str, size: tuple[int, int], image: Path, mask: Path) -> None:
    scene = render_scene(seed, scene_index, size)
    image.parent.mkdir(parents=True, exist_ok=True)
    mask.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(scene.image).save(image)
    Image.fromarray(task_labels(scene, task).astype(np.uint8)).save(mask)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True, help="folder to write")
    parser.add_argument("--task", choices=SYNTHETIC_TASKS, default="shape")
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--queries", type=int, default=4)
    parser.add_argument("--size", type=int, default=128, help="scene side in pixels")
    parser.add_argument("--split-set", type=int, default=0, metavar="N", help="also write N train + N val scenes")
    args = parser.parse_args()
    size = (args.size, args.size)
    out: Path = args.output
    for i in range(args.prompts):
        save_pair(i, HELD_OUT_SEED, args.task, size, out / f"prompt_{i}.png", out / f"prompt_{i}_mask.png")
    for j in range(args.queries):
        index = args.prompts + j
        save_pair(
            index, HELD_OUT_SEED, args.task, size, out / "queries" / f"query_{j}.png", out / "truth" / f"query_{j}.png"
        )
    for k in range(args.split_set):
        for split, offset in (("train", 10_000), ("val", 20_000)):
            name = f"{k:04d}.png"
            save_pair(
                offset + k, HELD_OUT_SEED, args.task, size, out / split / "images" / name, out / split / "labels" / name
            )
    print(f"wrote {args.prompts} prompts and {args.queries} queries ({args.task}) to {out}")


if __name__ == "__main__":
    main()
