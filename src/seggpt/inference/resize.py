"""Resizing images, colour targets and label maps: the one home of every resize the project does (numpy + PIL only).

Two nearest rules exist on purpose: PIL's (pixel centres, `resize_target` / `resize_labels`: prompt targets,
training labels, video memory and output) and torch's `F.interpolate(mode="nearest")` (`nearest_index` /
`upsample_labels`: the official decoding of the model's output, and the baselines that must match it).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PIL import Image


def resize_image(rgb: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.uint8]:
    """(H, W, 3) uint8 -> (size[0], size[1], 3), bicubic as the official preprocessing."""
    if rgb.shape[:2] == tuple(size):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.Resampling.BICUBIC))


def resize_target(rgb: NDArray[np.uint8], size: tuple[int, int]) -> NDArray[np.uint8]:
    """(H, W, 3) uint8 colour target -> (size[0], size[1], 3), nearest so no new colours appear."""
    if rgb.shape[:2] == tuple(size):
        return rgb
    return np.asarray(Image.fromarray(rgb).resize((size[1], size[0]), Image.Resampling.NEAREST))


def resize_labels(labels: NDArray[np.integer], size: tuple[int, int]) -> NDArray[np.int64]:
    """(H, W) integer label map (values fit int32) -> (size) int64, PIL nearest like `resize_target`."""
    if labels.shape == tuple(size):
        return labels.astype(np.int64)
    img = Image.fromarray(labels.astype(np.int32), mode="I")
    return np.asarray(img.resize((size[1], size[0]), Image.Resampling.NEAREST)).astype(np.int64)


def nearest_index(size_in: int, size_out: int) -> NDArray[np.int64]:
    """Source index of each output pixel for nearest resizing, as torch's `F.interpolate(mode="nearest")`."""
    return np.minimum(np.floor(np.arange(size_out) * (size_in / size_out)).astype(np.int64), size_in - 1)


def upsample_labels(labels: NDArray[np.int64], size: tuple[int, int]) -> NDArray[np.int64]:
    """(h, w) label map -> size (H, W), nearest by `nearest_index`, as the official output resize."""
    return labels[np.ix_(nearest_index(labels.shape[0], size[0]), nearest_index(labels.shape[1], size[1]))]
