"""Panoptic quality against hand-computed cases and torchmetrics' PanopticQuality."""

from __future__ import annotations

import numpy as np
import pytest

from seggpt.evaluation.panoptic import Segment, accumulate, panoptic_image_stats, panoptic_quality


def _halves() -> tuple[np.ndarray, dict[int, Segment]]:
    target = np.zeros((4, 4), dtype=np.int64)
    target[:, :2], target[:, 2:] = 1, 2
    return target, {1: Segment(1), 2: Segment(2)}


def test_two_matches_by_hand() -> None:
    target, target_segments = _halves()
    pred = target.copy()
    pred[0, 2] = 1  # segment 1 takes one pixel of segment 2: IoUs 8/9 and 7/8
    stats = panoptic_image_stats(target, target_segments, pred, {1: Segment(1), 2: Segment(2)})
    assert (stats[1].tp, stats[1].fp, stats[1].fn) == (1, 0, 0)
    assert stats[1].iou == pytest.approx(8 / 9) and stats[2].iou == pytest.approx(7 / 8)
    result = panoptic_quality(stats)
    assert result.pq == pytest.approx((8 / 9 + 7 / 8) / 2) and result.rq == 1.0 and result.n == 2


def test_wrong_category_and_low_iou_are_fp_and_fn() -> None:
    target, target_segments = _halves()
    pred = np.zeros_like(target)
    pred[:, :2] = 1  # category 2 over a category-1 segment: no match
    pred[:1, 2:] = 2  # 2 of 8 pixels of segment 2: IoU 0.25
    stats = panoptic_image_stats(target, target_segments, pred, {1: Segment(2), 2: Segment(2)})
    assert (stats[1].tp, stats[1].fp, stats[1].fn) == (0, 0, 1)
    assert (stats[2].tp, stats[2].fp, stats[2].fn) == (0, 2, 1)
    result = panoptic_quality(stats)
    assert result.pq == 0.0 and result.n == 2


def test_void_and_crowd_rules() -> None:
    target = np.zeros((4, 4), dtype=np.int64)
    target[:, :2] = 1  # category 1
    target[:2, 2:] = 2  # crowd of category 3; bottom right stays void
    target_segments = {1: Segment(1), 2: Segment(3, iscrowd=True)}
    pred = np.zeros_like(target)
    pred[:, :2] = 1
    pred[0, 1] = 2  # steals one pixel of segment 1
    pred[2:, 2:] = 2  # 4 void pixels: 4 of 5 in void -> ignored, not FP
    pred[:2, 2:] = 3  # category 3 over its own crowd: ignored, not FP
    pred_segments = {1: Segment(1), 2: Segment(1), 3: Segment(3)}
    stats = panoptic_image_stats(target, target_segments, pred, pred_segments)
    # segment 1 matches pred 1: IoU 7 / 8 (pred 1 has no void pixels)
    assert (stats[1].tp, stats[1].fp, stats[1].fn) == (1, 0, 0)
    assert stats[1].iou == pytest.approx(7 / 8)
    assert 3 not in stats  # crowd is never FN, its same-class prediction never FP
    # void pixels leave the union: a prediction covering its segment plus void still has IoU 1
    pred2 = target.copy()
    pred2[2:, 2:] = 1
    pred2[:2, 2:] = 0
    s2 = panoptic_image_stats(target, target_segments, pred2, {1: Segment(1)})
    assert s2[1].iou == pytest.approx(1.0) and s2[1].tp == 1


def test_bad_inputs_fail_clearly() -> None:
    target, target_segments = _halves()
    with pytest.raises(ValueError, match=r"prediction segment ids \[7\]"):
        panoptic_image_stats(target, target_segments, np.full_like(target, 7), {1: Segment(1)})
    with pytest.raises(ValueError, match="listed but have no pixels"):
        panoptic_image_stats(target, target_segments, target, {1: Segment(1), 2: Segment(2), 9: Segment(1)})


def _random_panoptic(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 2) [category, instance] from random rectangles painted over a stuff background (category 9)."""
    out = np.zeros((height, width, 2), dtype=np.int64)
    out[..., 0] = 9
    for instance in range(1, rng.integers(2, 6)):
        y, x = rng.integers(0, height - 3), rng.integers(0, width - 3)
        h, w = rng.integers(3, height - y + 1), rng.integers(3, width - x + 1)
        out[y : y + h, x : x + w] = (rng.integers(1, 4), instance)
    return out


def _to_segments(panoptic: np.ndarray) -> tuple[np.ndarray, dict[int, Segment]]:
    keys, ids = np.unique(panoptic.reshape(-1, 2), axis=0, return_inverse=True)
    segments = {i + 1: Segment(int(k[0])) for i, k in enumerate(keys)}
    return ids.reshape(panoptic.shape[:2]) + 1, segments


def test_matches_torchmetrics_panoptic_quality() -> None:
    torch = pytest.importorskip("torch")
    tm = pytest.importorskip("torchmetrics.detection")
    rng = np.random.default_rng(0)
    metric = tm.PanopticQuality(things={1, 2, 3}, stuffs={9}, return_sq_and_rq=True)
    total: dict = {}
    for _ in range(12):
        target = _random_panoptic(rng, 12, 16)
        pred = target.copy() if rng.random() < 0.3 else _random_panoptic(rng, 12, 16)
        if rng.random() < 0.5:  # perturb a band so that some matches fall below IoU 0.5
            pred[: rng.integers(1, 8)] = (rng.integers(1, 4), 7)
        metric.update(torch.from_numpy(pred)[None], torch.from_numpy(target)[None])
        target_ids, target_segments = _to_segments(target)
        pred_ids, pred_segments = _to_segments(pred)
        accumulate(total, panoptic_image_stats(target_ids, target_segments, pred_ids, pred_segments))
    expected = metric.compute().tolist()
    ours = panoptic_quality(total)
    assert 0.2 < ours.pq < 0.9  # a mix of matches, misses and false positives, not a trivial case
    assert [ours.pq, ours.sq, ours.rq] == pytest.approx(expected, abs=1e-6)
