"""Render the README's picture of the quick-start result: the prompts, then each query with the model's answer.

    python scripts/readme_figure.py --examples examples/nuclei --output docs/quickstart.png
    python scripts/readme_figure.py --tuned-prompt nuclei_prompt.safetensors --output docs/quickstart_tuned.png

Row 1: each prompt image with its mask overlaid. Row 2: each query with the answer of `--model` overlaid
(the same call as the README's main command), or of a prompt that `seggpt tune` learned
from those examples (`--tuned-prompt`). Row 3: the queries' ground truth, when `truth/` exists; then
it prints the mean IoU of the prompts' classes against it, and that of pasting the first prompt's mask.
White-on-black masks (only 0 and 255) are one class, as `seggpt segment` reads them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

import seggpt
from seggpt.atomic import atomic_write
from seggpt.data.io import is_single_object, load_label_map
from seggpt.inference import load_tuned_prompt
from seggpt.inference.resize import resize_labels

# Saturated colours read better over the scenes than the prompt palette's pale ones.
SHOW_COLOURS = np.array(
    [(0, 0, 0), (230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240)], np.uint8
)


def overlay(image: np.ndarray, labels: np.ndarray, colours: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: label colours (row k for label k) blended over the image; label 0 untouched."""
    paint = colours[labels % len(colours)].astype(np.float32)
    mixed = np.where((labels > 0)[..., None], 0.25 * image + 0.75 * paint, image)
    return mixed.round().astype(np.uint8)


def mean_iou(answers: list[np.ndarray], truths: list[np.ndarray]) -> float:
    """Mean over queries and classes >= 1 present in the answer or the truth of the per-class IoU."""
    ious = [
        float(((a == k) & (t == k)).sum() / ((a == k) | (t == k)).sum())
        for a, t in zip(answers, truths)
        for k in np.union1d(np.unique(a), np.unique(t))
        if k > 0
    ]
    return float(np.mean(ious)) if ious else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=Path, default=Path("examples/nuclei"))
    parser.add_argument("--model", default="seggpt-default")
    parser.add_argument("--type", choices=("semantic", "instance"), default="instance")
    parser.add_argument("--tuned-prompt", type=Path, help="answer with this prompt from `seggpt tune` instead")
    parser.add_argument("--output", type=Path, required=True, help="PNG to write")
    parser.add_argument("--tile", type=int, default=192, help="side of each picture in the figure (pixels)")
    args = parser.parse_args()
    prompts = sorted(args.examples.glob("prompt_*_mask.png"))
    images = [p.with_name(p.name.replace("_mask", "")) for p in prompts]
    queries = sorted((args.examples / "queries").glob("*.png"))
    if not prompts or not queries:
        raise SystemExit(f"error: {args.examples} needs prompt_<i>.png + prompt_<i>_mask.png and queries/*.png")
    model = seggpt.load_model(args.model)
    segmenter = seggpt.Segmenter(model, seg_type=args.type)
    if args.tuned_prompt is not None:
        segmenter.set_tuned_prompt(load_tuned_prompt(args.tuned_prompt, model))
    else:
        segmenter.set_prompts(images, prompts)
    predictions = segmenter.segment(queries)
    ids = predictions[0].class_ids  # ascending; the classes the prompts show

    def read(path: Path) -> np.ndarray:
        return np.asarray(Image.open(path).convert("RGB"))

    def read_labels(path: Path) -> np.ndarray:
        labels = load_label_map(path)
        return (labels > 0).astype(np.int64) if is_single_object(labels) else labels

    def index(labels: np.ndarray) -> np.ndarray:
        """Class ids -> 1..K in `ids` order (the colour rows); ids that no prompt shows -> 0."""
        return np.where(np.isin(labels, ids), np.searchsorted(ids, labels) + 1, 0)

    prompt_maps = [index(read_labels(m)) for m in prompts]
    answers = [index(p.labels) for p in predictions]
    rows = [[overlay(read(i), m, SHOW_COLOURS) for i, m in zip(images, prompt_maps)]]
    rows.append([overlay(read(q), a, SHOW_COLOURS) for q, a in zip(queries, answers)])
    truths = [args.examples / "truth" / q.name for q in queries]
    if all(t.is_file() for t in truths):
        truth_maps = [index(read_labels(t)) for t in truths]
        rows.append([overlay(read(q), t, SHOW_COLOURS) for q, t in zip(queries, truth_maps)])
        score = mean_iou(answers, truth_maps)
        paste = mean_iou([resize_labels(prompt_maps[0], t.shape) for t in truth_maps], truth_maps)
        print(f"mean IoU of the prompts' classes against truth/: {score:.3f} (pasting prompt 0's mask: {paste:.3f})")
    width = max(len(r) for r in rows)
    h, w = args.tile, round(args.tile * rows[1][0].shape[1] / rows[1][0].shape[0])
    canvas = np.full((len(rows) * (h + 4), width * (w + 4), 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            tile = np.asarray(Image.fromarray(tile).resize((w, h), Image.Resampling.NEAREST))
            canvas[r * (h + 4) : r * (h + 4) + h, c * (w + 4) : c * (w + 4) + w] = tile
    atomic_write(args.output, lambda tmp: Image.fromarray(canvas).save(tmp, optimize=True))
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
