"""Panoptic quality (PQ, SQ, RQ) as cocodataset/panopticapi's ``pq_compute``, in pure numpy.

An image is a segment-id map (H, W) plus, per segment id, its category (and for the truth, whether it is
a crowd region). Segment id 0 is void (unlabelled) in both truth and prediction.

Per category: a prediction matches a true segment when both have the category and IoU > 0.5 (the union
leaves out the prediction's void pixels); crowd truth is never matched. Unmatched non-crowd truth is a
false negative; an unmatched prediction is a false positive unless more than half of it lies in void or
in a crowd region of its own category. ``PQ = sum IoU / (TP + FP/2 + FN/2)``, averaged over categories
with at least one TP, FP or FN.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

VOID = 0


@dataclass(frozen=True)
class Segment:
    """One segment of a panoptic image: its ``category_id`` and, for the truth, ``iscrowd``."""

    category_id: int
    iscrowd: bool = False


@dataclass
class CategoryStats:
    """Running sums for one category: summed IoU of matches and TP / FP / FN counts."""

    iou: float = 0.0
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def __iadd__(self, other: CategoryStats) -> CategoryStats:
        self.iou, self.tp = self.iou + other.iou, self.tp + other.tp
        self.fp, self.fn = self.fp + other.fp, self.fn + other.fn
        return self


@dataclass(frozen=True)
class PanopticQuality:
    """Averages (fractions in [0, 1]) over ``n`` categories, and ``per_category`` ``(pq, sq, rq)``."""

    pq: float
    sq: float
    rq: float
    n: int
    per_category: dict[int, tuple[float, float, float]]


def panoptic_image_stats(
    target_ids: np.ndarray,
    target_segments: Mapping[int, Segment],
    pred_ids: np.ndarray,
    pred_segments: Mapping[int, Segment],
) -> dict[int, CategoryStats]:
    """TP / FP / FN and summed IoU per category for one image, as panopticapi's ``pq_compute_single_core``.

    Args:
        target_ids: (H, W) integer segment ids of the truth, 0 = void.
        target_segments: truth segment id -> ``Segment`` (every non-zero id in ``target_ids``).
        pred_ids: (H, W) integer segment ids of the prediction, 0 = unlabelled.
        pred_segments: predicted segment id -> ``Segment`` (exactly the non-zero ids in ``pred_ids``).

    Returns:
        category id -> ``CategoryStats``; add them over images with ``accumulate``.
    """
    target_ids, pred_ids = np.asarray(target_ids, np.int64), np.asarray(pred_ids, np.int64)
    if target_ids.shape != pred_ids.shape or target_ids.ndim != 2:
        raise ValueError(f"segment-id maps must be (H, W) of equal shape, got {target_ids.shape} and {pred_ids.shape}")
    if min(target_ids.min(initial=0), pred_ids.min(initial=0)) < 0:
        raise ValueError("segment ids must be non-negative (0 = void)")
    pred_area = _areas(pred_ids, pred_segments, "prediction", require_all=True)
    target_area = _areas(target_ids, target_segments, "target", require_all=False)
    offset = int(max(pred_ids.max(), 0)) + 1
    pairs, counts = np.unique(target_ids * offset + pred_ids, return_counts=True)
    intersections = {(int(p // offset), int(p % offset)): int(c) for p, c in zip(pairs, counts)}

    stats: dict[int, CategoryStats] = {}
    matched_target: set[int] = set()
    matched_pred: set[int] = set()
    for (t, p), inter in intersections.items():
        if t == VOID or p == VOID or target_segments[t].iscrowd:
            continue
        category = target_segments[t].category_id
        if category != pred_segments[p].category_id:
            continue
        union = pred_area[p] + target_area[t] - inter - intersections.get((VOID, p), 0)
        iou = inter / union
        if iou > 0.5:
            entry = stats.setdefault(category, CategoryStats())
            entry.tp += 1
            entry.iou += iou
            matched_target.add(t)
            matched_pred.add(p)

    crowd_of_category: dict[int, int] = {}
    for t, segment in target_segments.items():
        if t in matched_target:
            continue
        if segment.iscrowd:
            crowd_of_category[segment.category_id] = t
            continue
        stats.setdefault(segment.category_id, CategoryStats()).fn += 1

    for p, segment in pred_segments.items():
        if p in matched_pred:
            continue
        ignored = intersections.get((VOID, p), 0)
        if segment.category_id in crowd_of_category:
            ignored += intersections.get((crowd_of_category[segment.category_id], p), 0)
        if ignored / pred_area[p] > 0.5:
            continue
        stats.setdefault(segment.category_id, CategoryStats()).fp += 1
    return stats


def accumulate(total: dict[int, CategoryStats], image_stats: Mapping[int, CategoryStats]) -> dict[int, CategoryStats]:
    """Add one image's per-category stats into ``total`` (modified in place and returned)."""
    for category, entry in image_stats.items():
        total.setdefault(category, CategoryStats()).__iadd__(entry)
    return total


def panoptic_quality(stats: Mapping[int, CategoryStats], categories: Iterable[int] | None = None) -> PanopticQuality:
    """PQ, SQ, RQ averaged over ``categories`` (default: all in ``stats``) that have any TP, FP or FN.

    A category with no TP, FP or FN gets (0, 0, 0) in ``per_category`` and is left out of the averages,
    as panopticapi's ``pq_average``. The averages are NaN when no category counts.
    """
    per_category: dict[int, tuple[float, float, float]] = {}
    for category in sorted(stats) if categories is None else categories:
        entry = stats.get(category, CategoryStats())
        denominator = entry.tp + 0.5 * entry.fp + 0.5 * entry.fn
        if denominator == 0:
            per_category[category] = (0.0, 0.0, 0.0)
            continue
        sq = entry.iou / entry.tp if entry.tp else 0.0
        per_category[category] = (entry.iou / denominator, sq, entry.tp / denominator)
    counted = [v for c, v in per_category.items() if _has_counts(stats.get(c))]
    if not counted:
        return PanopticQuality(float("nan"), float("nan"), float("nan"), 0, per_category)
    pq, sq, rq = (float(np.mean(column)) for column in zip(*counted))
    return PanopticQuality(pq, sq, rq, len(counted), per_category)


def _has_counts(entry: CategoryStats | None) -> bool:
    return entry is not None and entry.tp + entry.fp + entry.fn > 0


def _areas(ids: np.ndarray, segments: Mapping[int, Segment], name: str, require_all: bool) -> dict[int, int]:
    values, counts = np.unique(ids, return_counts=True)
    areas = {int(v): int(c) for v, c in zip(values, counts) if v != VOID}
    unknown = sorted(set(areas) - set(segments))
    if unknown:
        raise ValueError(f"{name} segment ids {unknown[:5]} appear in the id map but have no Segment entry")
    if require_all:
        missing = sorted(set(segments) - set(areas))
        if missing:
            raise ValueError(f"{name} segments {missing[:5]} are listed but have no pixels in the id map")
    return {s: areas.get(s, 0) for s in segments}
