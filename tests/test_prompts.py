"""Prompt masks in every form -> colour targets, and one class table across prompts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seggpt.data.io import load_mask
from seggpt.inference.palette import colours_to_labels, palette
from seggpt.inference.prompts import encode_prompt_masks

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
WHITE, BLACK = np.array([255, 255, 255], np.uint8), np.array([0, 0, 0], np.uint8)


def _square(value: object, dtype: type, size: int = 8) -> np.ndarray:
    mask = np.zeros((size, size), dtype=dtype)
    mask[2:5, 3:7] = value
    return mask


def _assert_binary_target(target: np.ndarray, fg: np.ndarray) -> None:
    assert target.shape == (*fg.shape, 3) and target.dtype == np.uint8
    assert (target[fg] == WHITE).all() and (target[~fg] == BLACK).all()


@pytest.mark.parametrize(
    "mask",
    [
        _square(True, bool),
        _square(1, np.uint8),
        _square(255, np.uint8),
        _square(1, np.int64),
        _square(0.9, np.float32),
        np.repeat(_square(255, np.uint8)[..., None], 3, axis=-1),  # grey RGB white on black
    ],
    ids=["bool", "0-1", "0-255", "int64", "float", "grey-rgb"],
)
def test_binary_forms_give_white_on_black(mask: np.ndarray) -> None:
    prompts = encode_prompt_masks([mask])
    fg = _square(True, bool)
    _assert_binary_target(prompts.targets[0], fg)
    assert prompts.class_ids.tolist() == [1]
    np.testing.assert_array_equal(prompts.colours, palette(1))


def test_anti_aliased_binary_is_thresholded_at_127() -> None:
    mask = np.zeros((40, 40), np.uint8)
    mask[2:38, 2:38] = 255
    mask[2, 2:38] = 200  # soft edge: above the threshold
    mask[37, 2:38] = 60  # soft edge: below it
    prompts = encode_prompt_masks([mask])
    assert prompts.class_ids.tolist() == [1]
    _assert_binary_target(prompts.targets[0], mask > 127)


def test_label_map_classes_get_palette_colours_and_user_ids() -> None:
    labels = np.zeros((6, 6), np.uint8)
    labels[:2] = 3
    labels[4:] = 7
    prompts = encode_prompt_masks([labels])
    assert prompts.class_ids.tolist() == [3, 7]
    table = palette(2)
    np.testing.assert_array_equal(prompts.colours, table)
    assert (prompts.targets[0][:2] == table[1]).all() and (prompts.targets[0][4:] == table[2]).all()
    assert (prompts.targets[0][2:4] == 0).all()


def test_uint16_label_ids_are_kept() -> None:
    labels = np.zeros((4, 4), np.uint16)
    labels[0] = 300
    labels[3] = 1000
    assert encode_prompt_masks([labels]).class_ids.tolist() == [300, 1000]


def test_same_class_same_colour_across_prompts() -> None:
    a = np.zeros((4, 4), np.uint8)
    a[0], a[1] = 1, 2
    b = np.zeros((5, 5), np.uint8)
    b[0], b[1] = 2, 3
    prompts = encode_prompt_masks([a, b])
    assert prompts.class_ids.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(prompts.targets[0][1, 0], prompts.targets[1][0, 0])  # class 2 in both
    assert len({tuple(c) for c in prompts.colours}) == 4


def test_ignore_value_is_black_and_not_a_class() -> None:
    labels = np.zeros((4, 4), np.uint8)
    labels[0], labels[1] = 1, 255
    prompts = encode_prompt_masks([labels], ignore_value=255)
    assert prompts.class_ids.tolist() == [1]
    assert (prompts.targets[0][1] == 0).all() and (prompts.targets[0][0] == 255).all()


def test_binary_with_ignore_value() -> None:
    mask = _square(1, np.uint8)
    mask[7] = 255
    prompts = encode_prompt_masks([mask], ignore_value=255)
    assert prompts.class_ids.tolist() == [1]
    _assert_binary_target(prompts.targets[0], _square(True, bool))


def test_white_on_black_mask_with_ignore_value_255_names_the_ignore_value() -> None:
    """0/255 masks with the README's `ignore_value=255` lose all their foreground: say so, not just "empty"."""
    message = r"prompt mask 0: the prompt mask is empty \(every pixel that is not background is the ignore value 255\)"
    with pytest.raises(ValueError, match=message):
        encode_prompt_masks([_square(255, np.uint8)], ignore_value=255)
    with pytest.raises(ValueError, match=r"prompt mask 0: the prompt mask is empty \(no foreground pixels\)"):
        encode_prompt_masks([np.zeros((8, 8), np.uint8)], ignore_value=255)


def test_encode_decode_round_trip() -> None:
    rng = np.random.default_rng(0)
    labels = [rng.choice([0, 2, 5, 9, 11], size=(12, 9)).astype(np.uint8) for _ in range(2)]
    labels[1][0, 0] = 254
    prompts = encode_prompt_masks(labels, ignore_value=254)
    for target, original in zip(prompts.targets, labels):
        index, confidence = colours_to_labels(target, prompts.colours)
        decoded = np.concatenate([[0], prompts.class_ids])[index]
        np.testing.assert_array_equal(decoded, np.where(original == 254, 0, original))
        assert (confidence == 1).all()


def test_indexes_are_the_table_rows_of_the_targets_and_keep_ignore() -> None:
    """`PromptTargets.indexes` (what tuning learns from): 0 background, k the class of table row k, -1 ignore;
    painting them with the table gives the targets, in every mask form."""
    labels = np.zeros((6, 7), np.uint8)
    labels[:2], labels[2:4, :3], labels[5] = 9, 4, 255
    colour = np.zeros((5, 5, 3), np.uint8)
    colour[0], colour[1, :2], colour[3] = (250, 0, 0), (0, 0, 250), (0, 250, 0)
    for masks, kwargs, ids, index0 in [
        ([labels], {"ignore_value": 255}, [4, 9], np.where(labels == 255, -1, np.searchsorted([0, 4, 9], labels))),
        ([_square(255, np.uint8)], {}, [1], (_square(255, np.uint8) == 255).astype(np.int64)),
        ([colour], {}, [1, 2, 3], None),
    ]:
        prompts = encode_prompt_masks(masks, **kwargs)
        assert prompts.class_ids.tolist() == ids
        for index, target in zip(prompts.indexes, prompts.targets):
            assert index.dtype == np.int64 and index.shape == target.shape[:2]
            np.testing.assert_array_equal(prompts.colours[np.maximum(index, 0)], target)
        if index0 is not None:
            np.testing.assert_array_equal(prompts.indexes[0], index0)
    rows = {tuple(c): k for k, c in enumerate(prompts.colours.tolist())}
    assert prompts.indexes[0][0, 0] == rows[(250, 0, 0)] and prompts.indexes[0][3, 4] == rows[(0, 250, 0)]


def test_rgb_colour_target_keeps_its_colours() -> None:
    target = np.zeros((6, 6, 3), np.uint8)
    target[:2] = (200, 10, 10)
    target[4:] = (10, 10, 200)
    prompts = encode_prompt_masks([target])
    assert prompts.class_ids.tolist() == [1, 2]
    assert {tuple(c) for c in prompts.colours.tolist()} == {(0, 0, 0), (200, 10, 10), (10, 10, 200)}
    np.testing.assert_array_equal(prompts.targets[0], target)


def test_user_colours() -> None:
    labels = np.zeros((4, 4), np.uint8)
    labels[0], labels[1] = 1, 2
    prompts = encode_prompt_masks([labels], colours={1: (255, 0, 0), 2: (0, 255, 0)})
    assert prompts.colours.tolist() == [[0, 0, 0], [255, 0, 0], [0, 255, 0]]
    with pytest.raises(ValueError, match=r"no colour given for class ids \[2\]"):
        encode_prompt_masks([labels], colours={1: (255, 0, 0)})
    with pytest.raises(ValueError, match="more than the colours can separate"):
        encode_prompt_masks([labels], colours={1: (255, 0, 0), 2: (250, 0, 0)})


@pytest.mark.parametrize(
    ("masks", "kwargs", "message"),
    [
        ([np.zeros((4, 4), np.uint8)], {}, "mask a.png: the prompt mask is empty"),
        ([np.full((4, 4), 255, np.uint8)], {"ignore_value": 255}, "mask a.png: the prompt mask is empty"),
        ([np.zeros((4, 4, 3), np.uint8)], {}, "mask a.png: the prompt mask is empty"),
        ([_square(1, np.uint8)], {"image_sizes": [(8, 9)]}, r"mask a.png: mask size 8x8 \(WxH\) differs"),
        ([np.array([[1, 5], [3, 0]], np.uint8)], {"ignore_value": 3}, "ignore_value 3 lies inside the class range"),
        ([_square(1, np.uint8)], {"ignore_value": 0}, "ignore_value 0 is the background"),
        ([np.arange(5000, dtype=np.uint16).reshape(50, 100)], {"mask_type": "labels"}, "more than the palette can"),
        ([np.random.default_rng(0).integers(0, 256, (50, 50), dtype=np.uint8)], {}, "not a plausible label map"),
        ([np.random.default_rng(0).integers(0, 256, (9, 9, 3), dtype=np.uint8)], {}, "distinct colours"),
        ([np.zeros((4, 4, 2), np.uint8)], {}, r"expected an \(H, W\) mask"),
        ([np.array([[-1, 1]])], {}, "label ids must be >= 0"),
    ],
    ids=[
        "empty",
        "all-ignore",
        "empty-rgb",
        "size",
        "ignore-in-range",
        "ignore-0",
        "classes",
        "implausible",
        "colours",
        "shape",
        "negative",
    ],
)
def test_bad_masks_give_clear_errors(masks: list, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        encode_prompt_masks(masks, names=["mask a.png"], **kwargs)


def test_mixed_forms_are_an_error() -> None:
    rgb = np.zeros((4, 4, 3), np.uint8)
    rgb[0] = (200, 0, 0)
    with pytest.raises(ValueError, match="mix RGB colour targets and label/binary masks"):
        encode_prompt_masks([rgb, _square(1, np.uint8)])


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "examples").is_dir(), reason="../shared/data/examples is absent")
def test_real_prompt_masks() -> None:
    official = DATA / "examples" / "seggpt_official"
    target = load_mask(official / "hmbb_1_target.png")  # RGB, anti-aliased white on black
    prompts = encode_prompt_masks([target])
    assert prompts.class_ids.tolist() == [1]
    grey = target[..., 0]
    _assert_binary_target(prompts.targets[0], grey > 127)
    nuclei = load_mask(DATA / "examples" / "dsb2018_nuclei" / "mask2d.tif")  # uint16 instance ids
    prompts = encode_prompt_masks([nuclei])
    assert prompts.class_ids.tolist() == np.unique(nuclei[nuclei > 0]).tolist() and len(prompts.class_ids) == 125
