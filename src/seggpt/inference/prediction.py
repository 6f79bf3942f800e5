"""The result of segmenting one query image, and decoding the model's colour output into it."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from seggpt.inference.palette import blend, colours_to_labels
from seggpt.inference.resize import nearest_index

Upsample = Literal["nearest", "bilinear"]
_DECODE_CHUNK = 1 << 22  # pixels x classes per decoding step: bounds the (pixels, K) distance table's memory


@dataclass(frozen=True)
class Prediction:
    """SegGPT's answer for one query image, at the query's original size.

    Attributes:
        labels: (H, W) int64 the user's class ids (0 = background; binary prompts: 1 = foreground).
        colour: (H, W, 3) float32 RGB in [0, 255], the model's raw colour output (denormalized, upsampled).
        confidence: (H, W) float32 in [0, 1]: 1 - d1 / d2 with d1, d2 the distances to the nearest and
            second-nearest class colour (1 = exactly a class colour, 0 = halfway between two).
        class_ids: (K,) int64 the user's class ids, ascending.
        colours: (K + 1, 3) uint8 colour table; row 0 black (background), row k for class_ids[k - 1].
        query_image: (H, W, 3) uint8 the query image, for `overlay()`; may be None.
    """

    labels: NDArray[np.int64]
    colour: NDArray[np.float32]
    confidence: NDArray[np.float32]
    class_ids: NDArray[np.int64]
    colours: NDArray[np.uint8]
    query_image: NDArray[np.uint8] | None = None

    @property
    def masks(self) -> NDArray[np.bool_]:
        """(K, H, W) bool: one binary mask per class, in `class_ids` order."""
        return self.labels[None] == self.class_ids[:, None, None]

    def mask(self, class_id: int) -> NDArray[np.bool_]:
        """(H, W) bool mask of one of the user's class ids."""
        if class_id not in self.class_ids:
            raise ValueError(f"class id {class_id} is not one of the prompt classes {self.class_ids.tolist()}")
        return self.labels == class_id

    def overlay(self, image: NDArray[np.uint8] | None = None, alpha: float = 0.5) -> NDArray[np.uint8]:
        """(H, W, 3) uint8: class colours blended over the image with weight `alpha`; background untouched.

        Args:
            image: (H, W, 3) uint8 RGB; default the stored query image.
            alpha: colour weight in [0, 1].
        """
        image = self.query_image if image is None else image
        if image is None:
            raise ValueError("overlay needs the query image: pass image=(H, W, 3) uint8")
        if image.shape != (*self.labels.shape, 3):
            raise ValueError(f"overlay image shape {image.shape} differs from the prediction's {self.labels.shape}")
        index = np.searchsorted(self.class_ids, self.labels) + 1
        paint = self.colours[np.where(self.labels > 0, index.clip(max=len(self.colours) - 1), 0)]
        return blend(image, paint, self.labels > 0, alpha)


class _NearestPrediction(Prediction):
    """A Prediction upsampled nearest from the model's resolution: `colour` and `confidence` (16 bytes a pixel at
    full resolution) are built on first use only, so writing labels of a large image does not pay for them."""

    def __init__(
        self,
        labels: NDArray[np.int64],
        small: tuple[NDArray[np.float32], NDArray[np.float32]],
        grid: tuple[NDArray[np.int64], NDArray[np.int64]],
        class_ids: NDArray[np.int64],
        colours: NDArray[np.uint8],
        query_image: NDArray[np.uint8] | None,
    ):
        for name, value in (("labels", labels), ("class_ids", class_ids), ("colours", colours)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "query_image", query_image)
        object.__setattr__(self, "_small", small)
        object.__setattr__(self, "_grid", grid)

    @cached_property
    def colour(self) -> NDArray[np.float32]:  # type: ignore[override]
        return self._small[0][self._grid]  # type: ignore[attr-defined]

    @cached_property
    def confidence(self) -> NDArray[np.float32]:  # type: ignore[override]
        return self._small[1][self._grid]  # type: ignore[attr-defined]


def _decode(rgb: NDArray[np.float32], colours: NDArray[np.uint8]) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Nearest class colour per pixel, `colours_to_labels` in row chunks to bound memory."""
    H = rgb.shape[0]
    rows = max(1, _DECODE_CHUNK // max(1, rgb.shape[1] * len(colours)))
    parts = [colours_to_labels(rgb[r : r + rows], colours) for r in range(0, H, rows)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _decode_table(
    rgb: NDArray[np.float32], colours: NDArray[np.uint8], background: bool
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Row index into `colours` per pixel; without background, row 0 (black) is never chosen."""
    if background:
        return _decode(rgb, colours)
    index, confidence = _decode(rgb, colours[1:])
    return index + 1, confidence


def decode_colour_output(
    colour: torch.Tensor,
    size: tuple[int, int],
    class_ids: NDArray[np.int64],
    colours: NDArray[np.uint8],
    upsample: Upsample = "nearest",
    query_image: NDArray[np.uint8] | None = None,
    background: bool = True,
) -> Prediction:
    """Decode the model's colour output for one query into a Prediction at the query's size.

    Args:
        colour: (3, h, w) float RGB in [0, 255] (denormalized model output, padding already removed).
        size: (H, W) of the query image.
        class_ids: (K,) int64 user class ids; colours: (K + 1, 3) uint8 class colours, row 0 black.
        upsample: "nearest" decodes at the model's resolution and resizes labels nearest (the official path,
            equal to resizing the colours nearest first); "bilinear" resizes the colours bilinearly, then decodes.
        query_image: stored for `Prediction.overlay()`.
        background: decode black as background (label 0); False assigns every pixel a class (tuned prompts
            of datasets without a background class).

    Returns:
        Prediction with labels (H, W) in the user's class ids.
    """
    H, W = size
    lookup = np.concatenate([np.zeros(1, np.int64), class_ids.astype(np.int64)])
    if upsample == "nearest":
        small = colour.float().permute(1, 2, 0).cpu().numpy()
        index, confidence = _decode_table(small, colours, background)
        rows, cols = nearest_index(small.shape[0], H), nearest_index(small.shape[1], W)
        grid: tuple[NDArray[np.int64], NDArray[np.int64]] = np.ix_(rows, cols)  # type: ignore[assignment]
        return _NearestPrediction(lookup[index][grid], (small, confidence), grid, class_ids, colours, query_image)
    if upsample == "bilinear":
        big = F.interpolate(colour.float()[None], size=(H, W), mode="bilinear", align_corners=False)[0]
        rgb = big.permute(1, 2, 0).cpu().numpy()
        index, confidence = _decode_table(rgb, colours, background)
        return Prediction(lookup[index], rgb, confidence, class_ids, colours, query_image)
    raise ValueError(f"upsample must be 'nearest' or 'bilinear', got {upsample!r}")
