"""Uploads -> checked arrays for the web app: size limits, downscaling, and masks painted with the brush.

Everything here is a pure function of files and arrays (no Gradio), so each bad upload is unit-tested; the
errors are `ValueError`s whose one-line message names the upload and says what was expected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from seggpt.data import load_mask, load_rgb
from seggpt.inference import nearest_index, resize_image

ProgressCallback = Callable[[int, int | None], None]  # (items done, total or None when unknown): a page's progress

# Brush colours of the mask painter: brush k paints class (or object) k. Far apart, so that the anti-aliased
# edges of a stroke still decode to the brush that drew them.
BRUSH_COLOURS: NDArray[np.uint8] = np.array(
    [(255, 0, 0), (0, 200, 0), (0, 90, 255), (255, 220, 0), (255, 0, 255), (0, 230, 230)], dtype=np.uint8
)
BRUSH_NAMES = ("red", "green", "blue", "yellow", "magenta", "cyan")
_PAINT_ALPHA = 128  # a painted pixel is one at least half opaque; fainter edge pixels stay background


@dataclass(frozen=True)
class Limits:
    """What one request may ask of the server.

    Attributes:
        max_upload_mb: largest accepted file, in MB (10**6 bytes).
        max_side: longest image side the model is run on; larger images and frames are downscaled to it.
        max_frames: frames of a video segmented at most; a longer video is cut there.
        max_classes: classes (image tab) or objects (video tab) in the prompt masks at most.
        max_queries: query images in one request at most.
        max_tune_steps: in-context tuning steps one request may ask for before segmenting (0: no tuning).
    """

    max_upload_mb: float = 20.0
    max_side: int = 1024
    max_frames: int = 100
    max_classes: int = 16
    max_queries: int = 16
    max_tune_steps: int = 300

    def __post_init__(self) -> None:
        for name in ("max_upload_mb", "max_side", "max_frames", "max_classes", "max_queries"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if self.max_tune_steps < 0:
            raise ValueError(f"max_tune_steps must be >= 0, got {self.max_tune_steps}")


def display_name(path: str | Path) -> str:
    """The name a user gave the file (Gradio keeps it as the last part of its upload path)."""
    return Path(path).name


def check_upload(path: str | Path, limits: Limits, what: str) -> Path:
    """The file exists and is no larger than `limits.max_upload_mb`; returns it as a Path."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what}: the upload {display_name(path)} is missing; upload it again")
    size_mb = path.stat().st_size / 1e6
    if size_mb > limits.max_upload_mb:
        raise ValueError(
            f"{what} {display_name(path)} is {size_mb:.1f} MB; this server accepts files up to "
            f"{limits.max_upload_mb:g} MB (--max-upload-mb)"
        )
    return path


def fit_size(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(H, W) scaled down so that the longer side is at most `max_side` (aspect ratio kept, sides >= 1)."""
    H, W = size
    scale = max_side / max(H, W)
    if scale >= 1:
        return H, W
    return max(1, round(H * scale)), max(1, round(W * scale))


def downscale_mask(mask: NDArray[Any], size: tuple[int, int]) -> NDArray[Any]:
    """(H, W) or (H, W, C) mask of any dtype -> (h, w[, C]) by nearest neighbour: values are never blended."""
    if mask.shape[:2] == tuple(size):
        return mask
    return mask[np.ix_(nearest_index(mask.shape[0], size[0]), nearest_index(mask.shape[1], size[1]))]


def read_image(path: str | Path, limits: Limits, what: str) -> tuple[NDArray[np.uint8], tuple[int, int], str | None]:
    """Read an uploaded image as the model sees it (`seggpt.inference.io.load_rgb`), downscaled to `max_side`.

    Returns:
        rgb: (h, w, 3) uint8, the longer side at most `limits.max_side`.
        size: (H, W) of the file's image before downscaling (its mask must have this size).
        note: a sentence saying that and how the image was downscaled, or None.
    """
    path = check_upload(path, limits, what)
    try:
        rgb = load_rgb(path)
    except ValueError:
        raise ValueError(
            f"{what}: {display_name(path)} is not an image; expected PNG, JPEG, TIFF, BMP or WebP"
        ) from None
    original = (int(rgb.shape[0]), int(rgb.shape[1]))
    size = fit_size(original, limits.max_side)
    if size == original:
        return rgb, original, None
    note = (
        f"{what} {display_name(path)} was downscaled from {rgb.shape[1]}x{rgb.shape[0]} to {size[1]}x{size[0]} "
        f"(--max-side {limits.max_side})"
    )
    return resize_image(rgb, size), original, note


def read_mask(path: str | Path, image_size: tuple[int, int], limits: Limits, what: str) -> NDArray[Any]:
    """Read an uploaded mask file (any form `seggpt segment` takes), at its image's size after downscaling.

    Args:
        path: the mask file; values are kept (labels stay integers, colour targets RGB).
        image_size: (H, W) of the image before downscaling: the mask must have this size.
        limits: the server's limits (upload size, max side).
        what: the upload's name in messages, e.g. "prompt 1 mask".

    Returns:
        The mask array from `seggpt.inference.io.load_mask`, resized by nearest neighbour to
        `fit_size(image_size, limits.max_side)`.
    """
    path = check_upload(path, limits, what)
    try:
        mask = load_mask(path)
    except ValueError:
        raise ValueError(f"{what}: {display_name(path)} is not an image; expected a PNG or TIFF mask") from None
    check_same_size(mask.shape[:2], image_size, f"{what} {display_name(path)}")
    return downscale_mask(mask, fit_size(image_size, limits.max_side))


def check_same_size(mask_size: tuple[int, ...], image_size: tuple[int, ...], what: str) -> None:
    """A mask must have its image's (H, W)."""
    if tuple(mask_size) != tuple(image_size):
        raise ValueError(
            f"{what} is {mask_size[1]}x{mask_size[0]} but its image is {image_size[1]}x{image_size[0]}; "
            "expected a mask of the image's size"
        )


def painted_labels(layers: Sequence[NDArray[np.uint8]], size: tuple[int, int]) -> NDArray[np.int64]:
    """Brush strokes of the mask painter -> a label map: brush k = class id k + 1, unpainted = 0.

    Args:
        layers: the editor's layers, each (h, w, 4) uint8 RGBA (or (h, w, 3) RGB, where black is unpainted);
            later layers paint over earlier ones. Layers of another size than `size` are resized (nearest).
        size: (H, W) of the label map to return (the prompt image's size).

    Returns:
        (H, W) int64 class ids in 0..len(BRUSH_COLOURS); every painted pixel takes the nearest brush colour.
    """
    labels = np.zeros(size, dtype=np.int64)
    for layer in layers:
        layer = np.asarray(layer)
        if layer.ndim != 3 or layer.shape[2] not in (3, 4):
            raise ValueError(f"painted mask: expected (H, W, 4) RGBA layers, got {layer.shape}")
        layer = downscale_mask(layer, size)
        rgb = layer[..., :3].astype(np.int64)
        painted = layer[..., 3] >= _PAINT_ALPHA if layer.shape[2] == 4 else rgb.any(axis=-1)
        distance = ((rgb[..., None, :] - BRUSH_COLOURS.astype(np.int64)) ** 2).sum(-1)  # (H, W, brushes)
        labels = np.where(painted, distance.argmin(-1) + 1, labels)
    return labels


def brush_palette(num_brushes: int = len(BRUSH_COLOURS)) -> NDArray[np.uint8]:
    """(num_brushes + 1, 3) uint8 colour table of painted classes: row 0 black, row k brush k."""
    return np.concatenate([np.zeros((1, 3), np.uint8), BRUSH_COLOURS[:num_brushes]])
