"""Labels <-> colours: the palette of Painter's ADE20K code and transformers' SegGptImageProcessor."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

MIN_COLOUR_DISTANCE = 16.0  # closer class colours cannot be told apart reliably in the model's colour output


def palette(num_classes: int) -> NDArray[np.uint8]:
    """(num_classes + 1, 3) uint8 RGB colours; row 0 = background = black, row 1 = white.

    For N classes, base = int(N ** (1/3)) + 1 and margin = 256 // base; class k >= 1 with l = k - 1 is
    (255 - (l // base**2) * margin, 255 - ((l % base**2) // base) * margin, 255 - (l % base) * margin).
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be at least 1, got {num_classes}")
    base = int(num_classes ** (1 / 3)) + 1
    margin = 256 // base
    colours = np.zeros((num_classes + 1, 3), dtype=np.int64)
    l = np.arange(num_classes)  # noqa: E741
    colours[1:, 0] = 255 - (l // base**2) * margin
    colours[1:, 1] = 255 - ((l % base**2) // base) * margin
    colours[1:, 2] = 255 - (l % base) * margin
    if (colours < 0).any():
        raise ValueError(f"the palette cannot separate {num_classes} classes")
    return colours.astype(np.uint8)


def min_colour_distance(colours: NDArray[np.uint8]) -> float:
    """Smallest Euclidean distance between two rows of a (K, 3) colour table."""
    c = colours.astype(np.float64)
    d = np.sqrt(((c[:, None] - c[None]) ** 2).sum(-1))
    d[np.eye(len(c), dtype=bool)] = np.inf
    return float(d.min()) if len(c) > 1 else float("inf")


def labels_to_colours(labels: NDArray[np.integer], colours: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """(H, W) class ids in [0, K) -> (H, W, 3) uint8 RGB using a (K, 3) colour table."""
    if labels.size and (labels.min() < 0 or labels.max() >= len(colours)):
        raise ValueError(f"label ids must lie in [0, {len(colours)}), got [{labels.min()}, {labels.max()}]")
    return colours[labels]


def colours_to_labels(
    rgb: NDArray[np.floating] | NDArray[np.uint8], colours: NDArray[np.uint8]
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Nearest palette colour (squared L2) per pixel.

    Args:
        rgb: (H, W, 3) colours in [0, 255] (uint8 or float).
        colours: (K, 3) uint8 palette.

    Returns:
        labels: (H, W) int64 in [0, K).
        confidence: (H, W) float32 in [0, 1]: 1 - d1 / d2, where d1 and d2 are the distances to the nearest
            and the second-nearest palette colour (1 = exactly a palette colour, 0 = halfway between two).
    """
    x = rgb.astype(np.float32).reshape(-1, 1, 3)
    d = ((x - colours.astype(np.float32)[None]) ** 2).sum(-1)  # (HW, K)
    labels = d.argmin(-1)
    if len(colours) > 1:
        two = np.sqrt(np.partition(d, 1, axis=-1)[:, :2])
        confidence = 1.0 - two[:, 0] / np.maximum(two[:, 1], 1e-6)
    else:
        confidence = np.ones(len(x), dtype=np.float32)
    shape = rgb.shape[:2]
    return labels.reshape(shape).astype(np.int64), confidence.reshape(shape).astype(np.float32)


def blend(
    image: NDArray[np.uint8], paint: NDArray[np.uint8], foreground: NDArray[np.bool_], alpha: float = 0.5
) -> NDArray[np.uint8]:
    """The one overlay: (H, W, 3) uint8 `paint` colours blended over `image` with weight `alpha` where
    `foreground` (H, W) is set; the image elsewhere. Rounded to the nearest integer."""
    out = np.empty_like(image)
    rows = max(1, (1 << 20) // max(1, image.shape[1]))  # a million pixels at a time: float copies stay small
    for r in range(0, image.shape[0], rows):
        base = image[r : r + rows].astype(np.float32)
        mixed = (1 - alpha) * base + alpha * paint[r : r + rows].astype(np.float32)
        out[r : r + rows] = np.rint(np.where(foreground[r : r + rows, ..., None], mixed, base)).clip(0, 255)
    return out
