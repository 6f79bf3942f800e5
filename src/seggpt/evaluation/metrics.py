"""Segmentation metrics behind the paper's tables, as pure numpy functions (no torch).

- Few-shot (HSNet): per-class foreground / background intersection and union summed over episodes;
  mIoU = mean over classes of foreground IoU, FB-IoU = mean over {background, foreground} of summed IoU.
- Semantic: a confusion matrix with an ignore label; mIoU over classes present in truth or prediction.
- Video object segmentation (davis2017-evaluation): J (region IoU) and F (boundary F-measure with a
  ``ceil(0.008 * diagonal)`` disk tolerance), summarised per object by mean, recall and decay.

Panoptic quality lives in ``seggpt.evaluation.panoptic``. All masks are (H, W) arrays; boolean masks
may be given as any dtype (non-zero = True).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

# ---------------------------------------------------------------- few-shot (HSNet)


def fg_bg_intersection_union(
    pred_mask: np.ndarray, target_mask: np.ndarray, ignore_mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground intersection and union of one episode, as HSNet's ``classify_prediction``.

    Args:
        pred_mask: (H, W) predicted foreground (non-zero = foreground).
        target_mask: (H, W) true foreground, same shape.
        ignore_mask: optional (H, W) pixels to leave out (PASCAL's 255 boundaries).

    Returns:
        ``(intersection, union)``, each an int64 array of shape (2,) indexed [background, foreground], in pixels.
    """
    pred, target = _as_bool_pair(pred_mask, target_mask)
    keep = np.ones_like(target) if ignore_mask is None else ~_as_bool(ignore_mask, target.shape, "ignore_mask")
    intersection = np.array([np.sum(~pred & ~target & keep), np.sum(pred & target & keep)], dtype=np.int64)
    union = np.array([np.sum((~pred | ~target) & keep), np.sum((pred | target) & keep)], dtype=np.int64)
    return intersection, union


@dataclass
class FewShotIoU:
    """Per-class running sums of [background, foreground] intersection and union over episodes.

    ``update`` adds one episode; ``miou`` and ``fb_iou`` follow HSNet's ``AverageMeter.compute_iou``
    (a class's IoU divides by ``max(union, 1)``), in percent.
    """

    intersection: dict[int, np.ndarray] = field(default_factory=dict)
    union: dict[int, np.ndarray] = field(default_factory=dict)

    def add(self, class_id: int, intersection: np.ndarray, union: np.ndarray) -> None:
        """Add precomputed (2,) [background, foreground] intersection and union for ``class_id``."""
        zero = np.zeros(2, dtype=np.int64)
        self.intersection[class_id] = self.intersection.get(class_id, zero) + np.asarray(intersection, np.int64)
        self.union[class_id] = self.union.get(class_id, zero) + np.asarray(union, np.int64)

    def update(
        self, class_id: int, pred_mask: np.ndarray, target_mask: np.ndarray, ignore_mask: np.ndarray | None = None
    ) -> None:
        """Score one episode's (H, W) prediction against its truth and add it to ``class_id``'s sums."""
        self.add(class_id, *fg_bg_intersection_union(pred_mask, target_mask, ignore_mask))

    def class_iou(self) -> dict[int, float]:
        """Foreground IoU per class in percent, ``100 * I / max(U, 1)``."""
        return {c: 100.0 * float(self.intersection[c][1]) / max(float(self.union[c][1]), 1.0) for c in self.union}

    def miou(self, class_ids: Iterable[int] | None = None) -> float:
        """Mean foreground IoU (percent) over ``class_ids`` (default: every class seen); unseen classes count 0."""
        ids = self._ids(class_ids)
        per_class = self.class_iou()
        return float(np.mean([per_class.get(c, 0.0) for c in ids]))

    def fb_iou(self, class_ids: Iterable[int] | None = None) -> float:
        """Mean over {background, foreground} of summed intersection / summed union (percent)."""
        ids = self._ids(class_ids)
        inter = sum((self.intersection.get(c, np.zeros(2, np.int64)) for c in ids), np.zeros(2, np.int64))
        union = sum((self.union.get(c, np.zeros(2, np.int64)) for c in ids), np.zeros(2, np.int64))
        return float(100.0 * np.mean(inter / np.maximum(union, 1)))

    def _ids(self, class_ids: Iterable[int] | None) -> list[int]:
        ids = sorted(self.union) if class_ids is None else list(class_ids)
        if not ids:
            raise ValueError("FewShotIoU: no classes to average (no episode was added)")
        return ids


# ---------------------------------------------------------------- semantic segmentation


def confusion_matrix(pred: np.ndarray, target: np.ndarray, num_classes: int, ignore_index: int = 255) -> np.ndarray:
    """Pixel confusion matrix of one label map (add matrices to accumulate over a dataset).

    Args:
        pred: (H, W) integer predicted labels in [0, num_classes).
        target: (H, W) integer true labels in [0, num_classes) or ``ignore_index``.
        num_classes: number of classes C.
        ignore_index: truth value whose pixels are left out.

    Returns:
        (C, C) int64, rows = truth, columns = prediction.
    """
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from target shape {target.shape}")
    keep = target != ignore_index
    t, p = target[keep].astype(np.int64), pred[keep].astype(np.int64)
    for name, values in (("target", t), ("prediction", p)):
        if values.size and (values.min() < 0 or values.max() >= num_classes):
            raise ValueError(
                f"{name} labels must lie in [0, {num_classes}) (or be {ignore_index} in the target); "
                f"found {values.min()}..{values.max()}"
            )
    return np.bincount(t * num_classes + p, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_per_class(confusion: np.ndarray) -> np.ndarray:
    """(C,) float64 IoU per class from a (C, C) confusion matrix; NaN for classes absent from truth and prediction."""
    confusion = np.asarray(confusion, dtype=np.float64)
    intersection = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, intersection / union, np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """Mean IoU (fraction in [0, 1]) over classes present in truth or prediction; NaN if no class is."""
    ious = iou_per_class(confusion)
    return float(np.nanmean(ious)) if np.any(~np.isnan(ious)) else math.nan


# ---------------------------------------------------------------- video object segmentation (DAVIS)


def region_similarity(target_mask: np.ndarray, pred_mask: np.ndarray, void_mask: np.ndarray | None = None) -> float:
    """DAVIS J: IoU of two (H, W) masks outside ``void_mask``; 1.0 when both are empty."""
    target, pred = _as_bool_pair(target_mask, pred_mask)
    keep = np.ones_like(target) if void_mask is None else ~_as_bool(void_mask, target.shape, "void_mask")
    union = np.sum((target | pred) & keep)
    return 1.0 if union == 0 else float(np.sum(target & pred & keep) / union)


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary map of an (H, W) mask, as davis2017-evaluation's ``_seg2bmap`` (same size).

    A pixel is on the boundary when it differs from its east, south or south-east neighbour.
    """
    seg = np.asarray(mask).astype(bool)
    e, s, se = np.zeros_like(seg), np.zeros_like(seg), np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def disk(radius: int) -> np.ndarray:
    """(2r+1, 2r+1) bool disk, ``x^2 + y^2 <= r^2``, as ``skimage.morphology.disk``."""
    y, x = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    return np.asarray(x**2 + y**2 <= radius**2)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Binary dilation of an (H, W) mask by ``disk(radius)``; pixels outside the image count as empty."""
    mask = np.asarray(mask).astype(bool)
    H, W = mask.shape
    padded = np.pad(mask, radius)
    out = np.zeros_like(mask)
    for dy, dx in zip(*np.nonzero(disk(radius))):
        out |= padded[dy : dy + H, dx : dx + W]
    return out


def boundary_f_measure(
    target_mask: np.ndarray, pred_mask: np.ndarray, void_mask: np.ndarray | None = None, bound_th: float = 0.008
) -> float:
    """DAVIS F: boundary F-measure of two (H, W) masks, as davis2017-evaluation's ``f_measure``.

    Boundaries (``boundary_map`` of each mask outside ``void_mask``) match within ``bound_th`` pixels if
    ``bound_th >= 1``, else ``ceil(bound_th * sqrt(H^2 + W^2))`` pixels (8 at 854x480), by disk dilation.
    Empty prediction with non-empty truth gives 0; both empty gives 1.
    """
    target, pred = _as_bool_pair(target_mask, pred_mask)
    if void_mask is not None:
        keep = ~_as_bool(void_mask, target.shape, "void_mask")
        target, pred = target & keep, pred & keep
    radius = boundary_tolerance(target.shape, bound_th)
    pred_boundary, target_boundary = boundary_map(pred), boundary_map(target)
    n_pred, n_target = int(pred_boundary.sum()), int(target_boundary.sum())
    if n_pred == 0 and n_target == 0:
        return 1.0
    if n_pred == 0 or n_target == 0:
        return 0.0
    precision = np.sum(pred_boundary & dilate(target_boundary, radius)) / n_pred
    recall = np.sum(target_boundary & dilate(pred_boundary, radius)) / n_target
    return 0.0 if precision + recall == 0 else float(2 * precision * recall / (precision + recall))


def boundary_tolerance(shape: tuple[int, ...], bound_th: float = 0.008) -> int:
    """Boundary match radius in pixels: ``bound_th`` if >= 1, else ``ceil(bound_th * sqrt(H^2 + W^2))``."""
    return int(bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(shape[0], shape[1])))


@dataclass(frozen=True)
class Statistics:
    """Summary of one object's per-frame J or F: ``mean``, ``recall`` (fraction of frames > 0.5), ``decay``."""

    mean: float
    recall: float
    decay: float


def sequence_statistics(per_frame: np.ndarray | list[float]) -> Statistics:
    """Mean, recall and decay of per-frame values, as davis2017-evaluation's ``db_statistics``.

    Decay = mean of the first of 4 (overlapping, index-rounded) bins minus mean of the last one.
    The reference casts bin indices to uint8, which wraps beyond 255 frames; we keep int64 on purpose.
    NaN frames are left out of mean and decay and count as misses in recall, as in the reference.
    """
    values = np.asarray(per_frame, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"per_frame must be a non-empty 1-D sequence, got shape {values.shape}")
    ids = (np.round(np.linspace(1, len(values), 5) + 1e-10) - 1).astype(np.int64)
    bins = [values[ids[i] : ids[i + 1] + 1] for i in range(4)]
    return Statistics(
        mean=float(np.nanmean(values)),
        recall=float(np.mean(values > 0.5)),
        decay=float(np.nanmean(bins[0]) - np.nanmean(bins[3])),
    )


def _as_bool(mask: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    array = np.asarray(mask)
    if array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    return array.astype(bool)


def _as_bool_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"masks must be two (H, W) arrays of the same shape, got {a.shape} and {b.shape}")
    return a.astype(bool), b.astype(bool)
