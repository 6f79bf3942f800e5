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
    def size(self) -> tuple[int, int]:
        """(H, W) of the query image."""
        H, W = self.labels.shape
        return H, W

    def compact_labels(self) -> NDArray[np.integer]:
        """(H, W) `labels` in the narrowest dtype that holds the class ids (uint8 for ids up to 255): what the
        writers use, an eighth of `labels`' memory on a large image."""
        return self.labels.astype(narrow_dtype(self.class_ids), copy=False)

    @property
    def masks(self) -> NDArray[np.bool_]:
        """(K, H, W) bool: one binary mask per class, in `class_ids` order."""
        return self.compact_labels()[None] == self.class_ids[:, None, None]

    def mask(self, class_id: int) -> NDArray[np.bool_]:
        """(H, W) bool mask of one of the user's class ids."""
        if class_id not in self.class_ids:
            raise ValueError(f"class id {class_id} is not one of the prompt classes {self.class_ids.tolist()}")
        return self.compact_labels() == class_id

    def overlay(self, image: NDArray[np.uint8] | None = None, alpha: float = 0.5) -> NDArray[np.uint8]:
        """(H, W, 3) uint8: class colours blended over the image with weight `alpha`; background untouched.

        Args:
            image: (H, W, 3) uint8 RGB; default the stored query image.
            alpha: colour weight in [0, 1].
        """
        image = self.query_image if image is None else image
        if image is None:
            raise ValueError("overlay needs the query image: pass image=(H, W, 3) uint8")
        if image.shape != (*self.size, 3):
            raise ValueError(f"overlay image shape {image.shape} differs from the prediction's {self.size}")
        labels = self.compact_labels()
        if labels.dtype.kind == "u" and labels.dtype.itemsize <= 2:  # a colour per label value: no int64 index
            table = np.zeros((int(self.class_ids.max(initial=0)) + 1, 3), dtype=np.uint8)
            table[self.class_ids] = self.colours[1 : len(self.class_ids) + 1]
            paint = table[labels]
        else:
            index = np.searchsorted(self.class_ids, labels) + 1
            paint = self.colours[np.where(labels > 0, index.clip(max=len(self.colours) - 1), 0)]
        return blend(image, paint, labels > 0, alpha)


def narrow_dtype(class_ids: NDArray[np.integer]) -> np.dtype:
    """The narrowest integer dtype that holds 0 and every class id: uint8, uint16, uint32, else int64."""
    if class_ids.min(initial=0) < 0:
        return np.dtype(np.int64)
    top = int(class_ids.max(initial=0))
    return next((np.dtype(t) for t in (np.uint8, np.uint16, np.uint32) if top <= np.iinfo(t).max), np.dtype(np.int64))


class _NearestPrediction(Prediction):
    """A Prediction upsampled nearest from the model's resolution: the full-resolution arrays (`labels`, 8 bytes a
    pixel; `colour` and `confidence`, 16) are built on first use only, so writing the outputs of a large image
    pays for none of them (`compact_labels` is built from the small index directly)."""

    def __init__(
        self,
        index: tuple[NDArray[np.int64], NDArray[np.int64]],
        small: tuple[NDArray[np.float32], NDArray[np.float32]],
        grid: tuple[NDArray[np.int64], NDArray[np.int64]],
        class_ids: NDArray[np.int64],
        colours: NDArray[np.uint8],
        query_image: NDArray[np.uint8] | None,
    ):
        for name, value in (("class_ids", class_ids), ("colours", colours), ("query_image", query_image)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_index", index)  # (lookup (K + 1,) user ids, (h, w) rows into it)
        object.__setattr__(self, "_small", small)
        object.__setattr__(self, "_grid", grid)

    @cached_property
    def labels(self) -> NDArray[np.int64]:  # type: ignore[override]
        lookup, index = self._index  # type: ignore[attr-defined]
        return lookup[index][self._grid]  # type: ignore[attr-defined]

    @property
    def size(self) -> tuple[int, int]:
        rows, cols = self._grid  # type: ignore[attr-defined]
        return rows.shape[0], cols.shape[1]

    def compact_labels(self) -> NDArray[np.integer]:
        if "labels" in self.__dict__:
            return super().compact_labels()
        lookup, index = self._index  # type: ignore[attr-defined]
        return lookup.astype(narrow_dtype(self.class_ids))[index][self._grid]  # type: ignore[attr-defined]

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
        return _NearestPrediction((lookup, index), (small, confidence), grid, class_ids, colours, query_image)
    if upsample == "bilinear":
        big = F.interpolate(colour.float()[None], size=(H, W), mode="bilinear", align_corners=False)[0]
        rgb = big.permute(1, 2, 0).cpu().numpy()
        index, confidence = _decode_table(rgb, colours, background)
        return Prediction(lookup[index], rgb, confidence, class_ids, colours, query_image)
    raise ValueError(f"upsample must be 'nearest' or 'bilinear', got {upsample!r}")
