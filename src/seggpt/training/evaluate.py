"""Held-out evaluation during training: one-shot mIoU from the colours the model paints.

The predicted query half is decoded to the pair's colour mapping (nearest colour, black = background). IoU
is accumulated per category over the whole split for semantic pairs (a category id means the same thing
in every pair) and per pair and object for instance pairs; mIoU is the mean over categories present in
the truth or the prediction, ignore pixels excluded (the protocol of the reference page, section 4).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seggpt.inference.canvas import denormalize
from seggpt.inference.incontext import paint_queries
from seggpt.inference.palette import colours_to_labels
from seggpt.training.pairs import Example, PairLayout, collate_examples


@dataclass(frozen=True)
class EvalResult:
    """miou: mean IoU x 100 over all evaluated categories; per_source: the same per source name."""

    miou: float
    per_source: dict[str, float]
    num_pairs: int


def accumulate_iou(
    pred: np.ndarray, truth: np.ndarray, layout: PairLayout, prefix: tuple, totals: defaultdict[tuple, np.ndarray]
) -> None:
    """Add intersection and union per coloured key of one pair into `totals[prefix + (key,)]`."""
    keep = truth >= 0
    for i, key in enumerate(layout.keys, start=1):
        p, t = (pred == i) & keep, (truth == i) & keep
        totals[(*prefix, key)] += np.array([(p & t).sum(), (p | t).sum()], dtype=np.int64)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    pairs: list[tuple[Example, PairLayout, str]],
    device: torch.device,
    batch_size: int = 8,
    autocast_dtype: torch.dtype | None = None,
) -> EvalResult:
    """One-shot mIoU of `model` on fixed pairs from `evaluation_pairs`.

    Args:
        model: a SegGPT (or a module with its forward signature, returning the query half with query_only).
        pairs: (example, layout, source name) triples.
        autocast_dtype: e.g. torch.bfloat16 to evaluate under autocast; None = full precision.
    """
    was_training = model.training
    model.eval()
    totals: defaultdict[tuple, np.ndarray] = defaultdict(lambda: np.zeros(2, dtype=np.int64))
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        batch = collate_examples([example for example, _, _ in chunk])
        half = batch.image_canvas.shape[2] // 2  # a held-out pair: prompt on top, query below, one canvas
        image_canvas, target_canvas = batch.image_canvas.to(device), batch.target_canvas.to(device)
        pred = paint_queries(  # (B, 1, 3, H/2, W)
            model,
            image_canvas[:, None, :, :half],
            target_canvas[:, None, :, :half],
            image_canvas[:, :, half:],
            target_canvas[:, :, half:],
            seg_type=batch.seg_type,
            autocast_dtype=autocast_dtype,
        )
        for j, (example, layout, name) in enumerate(chunk):
            rgb = denormalize(pred[j, 0])
            labels, _ = colours_to_labels(rgb, layout.colours)
            semantic = int(example.seg_type) == 0
            prefix = (name,) if semantic else (name, start + j)
            accumulate_iou(labels, layout.query_labels, layout, prefix, totals)
    model.train(was_training)
    per_source: dict[str, list[float]] = defaultdict(list)
    for key, (inter, union) in totals.items():
        if union > 0:
            per_source[key[0]].append(inter / union)
    everything = [v for values in per_source.values() for v in values]
    return EvalResult(
        miou=100.0 * float(np.mean(everything)) if everything else float("nan"),
        per_source={k: 100.0 * float(np.mean(v)) for k, v in per_source.items()},
        num_pairs=len(pairs),
    )
