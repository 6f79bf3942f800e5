"""Metrics against hand-computed cases (few-shot IoU, semantic mIoU, DAVIS J and F)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from seggpt.evaluation.metrics import (
    FewShotIoU,
    boundary_f_measure,
    boundary_map,
    boundary_tolerance,
    confusion_matrix,
    dilate,
    disk,
    fg_bg_intersection_union,
    iou_per_class,
    mean_iou,
    region_similarity,
    sequence_statistics,
)


def test_fg_bg_intersection_union_by_hand() -> None:
    pred = np.array([[1, 1], [0, 0]])
    target = np.array([[1, 0], [1, 0]])
    inter, union = fg_bg_intersection_union(pred, target)
    assert inter.tolist() == [1, 1] and union.tolist() == [3, 3]
    ignore = np.array([[0, 1], [0, 0]])  # the one pixel predicted fg but truly bg
    inter, union = fg_bg_intersection_union(pred, target, ignore)
    assert inter.tolist() == [1, 1] and union.tolist() == [2, 2]


def test_few_shot_iou_miou_and_fb_iou() -> None:
    meter = FewShotIoU()
    # class 1: two episodes, fg I/U = (1/3) then (2/2) -> summed 3/5; bg I/U = 1/3 + 2/2 -> 3/5
    meter.update(1, np.array([[1, 1], [0, 0]]), np.array([[1, 0], [1, 0]]))
    meter.update(1, np.array([[1, 1], [0, 0]]), np.array([[1, 1], [0, 0]]))
    # class 2: prediction empty, truth one pixel: fg 0/1, bg 3/4
    meter.update(2, np.zeros((2, 2)), np.array([[0, 0], [0, 1]]))
    assert meter.class_iou() == pytest.approx({1: 60.0, 2: 0.0})
    assert meter.miou() == pytest.approx(30.0)
    # FB-IoU: bg (3 + 3) / (5 + 4), fg (3 + 0) / (5 + 1)
    assert meter.fb_iou() == pytest.approx(100 * (6 / 9 + 3 / 6) / 2)
    assert meter.miou([1, 2, 3]) == pytest.approx(20.0)  # an unseen class counts 0, as HSNet
    with pytest.raises(ValueError, match="no classes"):
        FewShotIoU().miou()


def test_confusion_matrix_and_mean_iou_by_hand() -> None:
    pred = np.array([[0, 1], [1, 2]])
    target = np.array([[0, 1], [2, 255]])
    cm = confusion_matrix(pred, target, num_classes=4)
    expected = np.zeros((4, 4), dtype=np.int64)
    expected[0, 0] = expected[1, 1] = expected[2, 1] = 1
    np.testing.assert_array_equal(cm, expected)
    ious = iou_per_class(cm)
    np.testing.assert_allclose(ious[:3], [1.0, 0.5, 0.0])
    assert math.isnan(ious[3])  # absent from truth and prediction: left out of the mean
    assert mean_iou(cm) == pytest.approx(0.5)
    # a class only predicted counts (IoU 0) once it appears in the prediction
    cm2 = confusion_matrix(np.array([[3, 1], [1, 2]]), target, num_classes=4)
    assert mean_iou(cm2) == pytest.approx((0 + 0.5 + 0 + 0) / 4)


def test_confusion_matrix_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match=r"prediction labels must lie in \[0, 3\)"):
        confusion_matrix(np.array([[5]]), np.array([[0]]), num_classes=3)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(np.zeros((2, 2)), np.zeros((2, 3)), num_classes=3)


def test_region_similarity_by_hand() -> None:
    a = np.array([[1, 1, 0], [0, 0, 0]])
    b = np.array([[0, 1, 1], [0, 0, 0]])
    assert region_similarity(a, b) == pytest.approx(1 / 3)
    assert region_similarity(np.zeros((3, 3)), np.zeros((3, 3))) == 1.0
    assert region_similarity(a, np.zeros_like(a)) == 0.0
    void = np.array([[0, 0, 1], [0, 0, 0]])
    assert region_similarity(a, b, void) == pytest.approx(1 / 2)


def test_boundary_map_of_one_pixel_is_a_2x2_block() -> None:
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 1] = True
    expected = np.zeros((4, 4), dtype=bool)
    expected[0:2, 0:2] = True  # the pixel and the three neighbours whose east/south/south-east it is
    np.testing.assert_array_equal(boundary_map(mask), expected)
    full = np.ones((3, 3), dtype=bool)  # the image border is not a boundary, as in the reference
    assert not boundary_map(full).any()
    left = np.zeros((3, 3), dtype=bool)
    left[:, 0] = True
    assert boundary_map(left).astype(int).tolist() == [[1, 0, 0], [1, 0, 0], [1, 0, 0]]


def test_disk_and_dilate_match_brute_force() -> None:
    assert disk(1).astype(int).tolist() == [[0, 1, 0], [1, 1, 1], [0, 1, 0]]
    assert disk(2).sum() == 13
    rng = np.random.default_rng(0)
    mask = rng.random((9, 11)) > 0.85
    out = dilate(mask, 2)
    ys, xs = np.nonzero(mask)
    for y in range(9):
        for x in range(11):
            expected = bool(np.any((ys - y) ** 2 + (xs - x) ** 2 <= 4))
            assert out[y, x] == expected


def test_boundary_f_measure_by_hand() -> None:
    pred = np.zeros((6, 6), dtype=bool)
    target = np.zeros((6, 6), dtype=bool)
    pred[1, 1] = True
    target[2, 2] = True
    # boundaries {(0,0),(0,1),(1,0),(1,1)} and {(1,1),(1,2),(2,1),(2,2)}; within a radius-1 disk 3 of 4 match
    assert boundary_f_measure(target, pred, bound_th=1) == pytest.approx(0.75)
    assert boundary_f_measure(target, target, bound_th=1) == 1.0
    assert boundary_f_measure(target, np.zeros_like(target)) == 0.0
    assert boundary_f_measure(np.zeros_like(target), pred) == 0.0
    assert boundary_f_measure(np.zeros_like(target), np.zeros_like(target)) == 1.0
    far = np.zeros((6, 6), dtype=bool)
    far[5, 5] = True  # boundary {(4,4),(4,5),(5,4)}: out of reach, precision = recall = 0
    assert boundary_f_measure(pred, far, bound_th=1) == 0.0


def test_boundary_tolerance_is_8_pixels_at_480p() -> None:
    assert boundary_tolerance((480, 854)) == 8
    assert boundary_tolerance((240, 427)) == 4
    assert boundary_tolerance((10, 10), bound_th=3) == 3


def test_sequence_statistics_by_hand() -> None:
    stats = sequence_statistics([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2])
    # bins (indices rounded from linspace(1, 8, 5)): [0:3], [2:5], [4:6], [5:8]
    assert stats.mean == pytest.approx(0.55)
    assert stats.recall == pytest.approx(0.5)  # strictly greater than 0.5
    assert stats.decay == pytest.approx(0.8 - 0.3)
    one = sequence_statistics([0.7])
    assert (one.mean, one.recall, one.decay) == pytest.approx((0.7, 1.0, 0.0))
    with pytest.raises(ValueError, match="non-empty"):
        sequence_statistics([])
