"""Held-out evaluation during training: one-shot mIoU from the colours the model paints.

The predicted query half is decoded to the pair's colour mapping (nearest colour, black = background). IoU
is accumulated per category over the whole split for semantic pairs (a category id means the same thing
in every pair) and per pair and object for instance pairs; mIoU is the mean over categories present in
the truth or the prediction, ignore pixels excluded (the protocol of the reference page, section 4).
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from seggpt.inference.canvas import denormalize
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
        autocast = (
            torch.autocast(device.type, dtype=autocast_dtype)
            if autocast_dtype is not None
            else contextlib.nullcontext()
        )
        with autocast:
            pred = model(  # (B, 3, H/2, W): the query half only
                batch.image_canvas.to(device),
                batch.target_canvas.to(device),
                batch.bool_masked_pos.to(device),
                batch.seg_type.to(device),
                query_only=True,
            )
        for j, (example, layout, name) in enumerate(chunk):
            rgb = denormalize(pred[j].float())
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
