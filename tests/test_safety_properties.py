"""Property tests (hypothesis): mask decoding and palette round trips hold for any masks, not just the examples."""

from __future__ import annotations

import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from seggpt.data.io import load_mask
from seggpt.inference.palette import colours_to_labels, labels_to_colours, palette
from seggpt.inference.prompts import encode_prompt_masks

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def label_maps(draw: st.DrawFn, max_ids: int = 65535) -> np.ndarray:
    """(H, W) label maps of a few arbitrary class ids (0 = background) in rectangles, at least one class shown."""
    H, W = draw(st.integers(4, 40)), draw(st.integers(4, 40))
    ids = draw(st.lists(st.integers(1, max_ids), min_size=1, max_size=12, unique=True))
    labels = np.zeros((H, W), np.int64)
    for k in ids:
        y, x = draw(st.integers(0, H - 1)), draw(st.integers(0, W - 1))
        labels[y : y + draw(st.integers(1, H)), x : x + draw(st.integers(1, W))] = k
    return labels


@SETTINGS
@given(st.integers(1, 600), st.data())
def test_palette_round_trip_is_exact_and_survives_small_noise(num_classes: int, data: st.DataObject) -> None:
    colours = palette(num_classes)
    labels = data.draw(arrays(np.int64, (5, 7), elements=st.integers(0, num_classes)))
    rgb = labels_to_colours(labels, colours)
    decoded, confidence = colours_to_labels(rgb, colours)
    assert (decoded == labels).all() and (confidence == 1).all()
    margin = 256 // (int(num_classes ** (1 / 3)) + 1)  # the palette's spacing per channel
    noise = data.draw(arrays(np.float64, rgb.shape, elements=st.floats(-0.49, 0.49))) * margin
    assert (colours_to_labels(rgb + noise, colours)[0] == labels).all()


@SETTINGS
@given(label_maps())
def test_label_maps_round_trip_through_their_colour_targets(labels: np.ndarray) -> None:
    dtype = np.uint8 if labels.max() <= 255 else np.uint16
    prompts = encode_prompt_masks([labels.astype(dtype)], mask_type="labels")
    present = np.unique(labels[labels > 0])
    assert prompts.class_ids.tolist() == present.tolist()
    index, _ = colours_to_labels(prompts.targets[0], prompts.colours)
    lookup = np.concatenate([[0], prompts.class_ids])
    assert (lookup[index] == labels).all()


@SETTINGS
@given(label_maps(max_ids=65535))
def test_png_label_maps_read_back_exactly(labels: np.ndarray) -> None:
    dtype = np.uint8 if labels.max() <= 255 else np.uint16
    read = _read_back(Image.fromarray(labels.astype(dtype)), "PNG")
    assert (read.astype(np.int64) == labels).all()


def _read_back(image: Image.Image, fmt: str, **options: int) -> np.ndarray:
    """`load_mask` of the image saved as `fmt` (hypothesis runs many examples per test: no tmp_path)."""
    with tempfile.NamedTemporaryFile(suffix=f".{fmt.lower()}") as f:
        image.save(f, format=fmt, **options)
        f.flush()
        return np.asarray(load_mask(f.name))


@SETTINGS
@given(arrays(np.bool_, st.tuples(st.integers(2, 30), st.integers(2, 30))))
def test_every_form_of_a_binary_mask_gives_one_target(mask: np.ndarray) -> None:
    if not mask.any():
        mask[0, 0] = True
    forms = [mask, mask.astype(np.uint8), mask.astype(np.uint8) * 255, mask.astype(np.float32)]
    results = [encode_prompt_masks([form]) for form in forms]
    for result in results:
        assert result.class_ids.tolist() == [1]
        assert (result.targets[0] == results[0].targets[0]).all()
    assert ((results[0].targets[0] > 0).any(-1) == mask).all()


@settings(max_examples=25, deadline=None)
@given(
    st.integers(24, 96),
    st.integers(24, 96),
    st.floats(0.1, 0.9),
    st.floats(0.1, 0.9),
    st.floats(0.15, 0.45),
    st.integers(40, 95),
)
def test_white_on_black_jpeg_masks_decode_as_one_class(
    height: int, width: int, cy: float, cx: float, radius: float, quality: int
) -> None:
    yy, xx = np.mgrid[:height, :width]
    mask = ((yy / height - cy) ** 2 + (xx / width - cx) ** 2) < radius**2  # a disc, maybe cut by the border
    decoded = _read_back(Image.fromarray(mask.astype(np.uint8) * 255), "JPEG", quality=quality)
    prompts = encode_prompt_masks([decoded])
    assert prompts.class_ids.tolist() == [1]
    foreground = (prompts.targets[0] > 0).any(-1)
    assert (foreground & mask).sum() / (foreground | mask).sum() > 0.9


@SETTINGS
@given(label_maps(max_ids=200))
def test_clean_label_maps_are_never_binarised(labels: np.ndarray) -> None:
    prompts = encode_prompt_masks([labels.astype(np.uint8)])  # ids <= 200: never the white of a binary mask
    assert prompts.class_ids.tolist() == np.unique(labels[labels > 0]).tolist()
