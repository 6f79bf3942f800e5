"""The lookups that replace per-value arithmetic on the data path (normalising uint8 images, the distinct values of
a label map, colouring a label map) give exactly what the arithmetic gives."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from seggpt.data.io import label_values
from seggpt.inference.canvas import IMAGENET_MEAN, IMAGENET_STD, normalize
from seggpt.training.pairs import colour_target

INTEGER_TYPES = st.sampled_from([np.uint8, np.uint16, np.int16, np.int32, np.int64])


def _normalize_by_arithmetic(rgb: np.ndarray) -> torch.Tensor:
    x = torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1) / 255.0
    return (x - torch.tensor(IMAGENET_MEAN).view(3, 1, 1)) / torch.tensor(IMAGENET_STD).view(3, 1, 1)


def test_normalize_of_uint8_equals_the_arithmetic_for_every_value_and_layout() -> None:
    every = np.stack([np.arange(256, dtype=np.uint8)] * 3, axis=-1)[None]  # (1, 256, 3): each value, each channel
    photo = np.random.default_rng(0).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    for rgb in (every, photo, photo[5:30, ::-1], photo[..., ::-1]):  # crops, flips and BGR views too
        out = normalize(rgb)
        assert out.dtype == torch.float32 and out.shape == (3, *rgb.shape[:2]) and out.is_contiguous()
        assert torch.equal(out, _normalize_by_arithmetic(rgb))
    floats = photo.astype(np.float32) + 0.25  # not uint8: the arithmetic itself
    assert torch.equal(normalize(floats), _normalize_by_arithmetic(floats))


@settings(max_examples=200, deadline=None)
@given(arrays(INTEGER_TYPES, st.tuples(st.integers(0, 12), st.integers(0, 12))), st.integers(-(2**40), 2**40))
def test_label_values_are_np_unique(labels: np.ndarray, shift: int) -> None:
    for values in (labels, labels.astype(np.int64) + shift):  # also ranges far from 0 and wider than 2**16
        found = label_values(values)
        assert found.dtype == values.dtype and np.array_equal(found, np.unique(values))


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.int64, st.tuples(st.integers(1, 9), st.integers(1, 9)), elements=st.integers(-1, 6)),
    st.lists(st.integers(-3, 9), unique=True, max_size=5),
    st.sampled_from([(np.int64, 0), (np.int16, 0), (np.int16, 32761), (np.int64, 2**20)]),
)
def test_colour_target_colours_each_key_as_assigning_key_by_key(
    labels: np.ndarray, keys: list[int], kind: tuple[type, int]
) -> None:
    dtype, far = kind  # labels above 4 moved up by `far`: near int16's end, or a span too wide for a table
    labels = np.where(labels > 4, labels + far, labels).astype(dtype)
    keys = [k + far if k > 4 else k for k in keys]
    colours = np.random.default_rng(len(keys)).integers(1, 256, (len(keys), 3), dtype=np.uint8)
    expected = np.zeros((*labels.shape, 3), dtype=np.uint8)
    for key, colour in zip(keys, colours):
        expected[labels == key] = colour
    target, valid = colour_target(labels, keys, colours)
    assert target.dtype == np.uint8 and np.array_equal(target, expected)
    assert np.array_equal(valid, (labels != -1).astype(np.float32))
