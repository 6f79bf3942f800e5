"""Reading images and prompt masks from disk: any PIL mode, EXIF orientation, 16-bit label maps kept as integers.

Limits: an image above `max_pixels()` (default 50 megapixels, environment variable `SEGGPT_MAX_PIXELS`) is refused
from its header, before it is decoded, so a decompression bomb (a few KB that decode to gigabytes) costs nothing.
Masks from lossy files (JPEG) are binarised when they are white on black, and refused otherwise.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageOps, UnidentifiedImageError

PathLike = str | Path

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")
_LABEL_MODES = ("1", "L", "P", "LA", "PA", "F", *_SIXTEEN_BIT_MODES)
_LOSSY_FORMATS = ("JPEG", "MPO")
DEFAULT_MAX_PIXELS = 50_000_000
NEAR_BINARY_BAND = 48  # a lossy white-on-black mask keeps its pixels within this distance of 0 or 255
NEAR_BINARY_SHARE = 0.95  # ... at least this share of them


def max_pixels() -> int:
    """The largest image (width x height) any command reads: `SEGGPT_MAX_PIXELS`, default 50 megapixels."""
    text = os.environ.get("SEGGPT_MAX_PIXELS", "")
    try:
        return int(text) if text else DEFAULT_MAX_PIXELS
    except ValueError as err:
        raise ValueError(f"SEGGPT_MAX_PIXELS={text!r}: expected a whole number of pixels") from err


def is_near_binary(values: NDArray[Any]) -> bool:
    """Whether 8-bit values are a white-on-black mask blurred by compression or resampling.

    True when at least 95 % of the values lie within 48 of 0 or of 255 and both ends hold at least 0.1 %.
    """
    if values.size == 0 or values.dtype != np.uint8:
        return False
    low = np.count_nonzero(values <= NEAR_BINARY_BAND)
    high = np.count_nonzero(values >= 255 - NEAR_BINARY_BAND)
    ends = min(low, high) >= 0.001 * values.size
    return bool(ends and low + high >= NEAR_BINARY_SHARE * values.size)


def _open(path: PathLike) -> Image.Image:
    """Open, fully decode and EXIF-transpose an image; a clear error names the file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"image file not found: {path}")
    if path.is_dir():
        raise ValueError(f"expected an image file, got a folder: {path}")
    limit = max_pixels()
    try:
        image = Image.open(path)
        if image.width * image.height <= limit:
            image.load()
            ImageOps.exif_transpose(image, in_place=True)  # in place: a copy would double a large image's memory
            return image
    except Image.DecompressionBombError as err:
        raise ValueError(f"{path} declares a size too large to decode safely (decompression bomb?): {err}") from err
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ValueError(f"cannot read {path} as an image (expected PNG, JPEG, TIFF, BMP, WebP ...): {err}") from err
    image.close()
    raise ValueError(
        f"{path} is {image.width}x{image.height} = {image.width * image.height / 1e6:.0f} megapixels, above the "
        f"limit of {limit / 1e6:.0f} (SEGGPT_MAX_PIXELS); downscale it first or raise the limit"
    )


def _to_uint8(array: NDArray[Any]) -> NDArray[np.uint8]:
    """Scale a 16/32-bit or float intensity image to 8 bits by its type's range (float: [0, 1])."""
    if array.dtype == np.uint8:
        return array.astype(np.uint8)
    if np.issubdtype(array.dtype, np.floating):
        return np.clip(np.rint(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    top = 65535 if array.max(initial=0) <= 65535 else int(array.max())
    return np.clip(np.rint(array.astype(np.float64) * (255.0 / max(top, 1))), 0, 255).astype(np.uint8)


def natural_key(name: str) -> list[Any]:
    """Sort key of file names that orders 'frame2' before 'frame10' (numbers by value, text case-blind)."""
    return [(0, int(part)) if part.isdigit() else (1, part.lower()) for part in re.split(r"(\d+)", name)]


def _rgb_array(image: Image.Image) -> NDArray[np.uint8]:
    """(H, W, 3) uint8 RGB of a decoded image, converted a band of rows at a time: PIL's whole-image copies
    (`convert`, `tobytes`) would hold two or three times the array itself at once on a large image."""
    W, H = image.size
    rgb = np.empty((H, W, 3), dtype=np.uint8)
    rows = max(1, (1 << 22) // max(1, W))  # about 4M pixels a band
    for top in range(0, H, rows):
        band = image.crop((0, top, W, min(H, top + rows)))
        rgb[top : top + rows] = np.asarray(band if band.mode == "RGB" else band.convert("RGB"))
    return rgb


def load_rgb(path: PathLike) -> NDArray[np.uint8]:
    """Read an image as RGB, as the model sees it.

    Any PIL mode is accepted: L, LA, P (palette, also with transparency), RGBA (alpha dropped, as the official
    `.convert("RGB")`), CMYK, 1 (bilevel), 16-bit (I;16, scaled to 8 bits by 255/65535). EXIF orientation is
    applied.

    Args:
        path: the image file.

    Returns:
        (H, W, 3) uint8 RGB.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable image (the message names it).
    """
    image = _open(path)
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        gray = _to_uint8(np.asarray(image))
        return np.repeat(gray[..., None], 3, axis=-1)
    return _rgb_array(image)


def as_rgb(image: NDArray[np.uint8] | PathLike, name: str) -> NDArray[np.uint8]:
    """An image given either way: a path is read with `load_rgb`; an array must be (H, W, 3) uint8 (`name` says
    which input it is in the error)."""
    if isinstance(image, str | os.PathLike):
        return load_rgb(image)
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(f"{name}: expected an (H, W, 3) uint8 RGB image, got {array.shape} {array.dtype}")
    return array


def load_mask(path: PathLike) -> NDArray[Any]:
    """Read a prompt mask, keeping its values: labels stay integers, colour targets stay RGB.

    Modes 1, L, LA, P and 16-bit (I;16, I) give a 2-D array of the stored values (for P the palette *indices*,
    i.e. the class ids of a VOC-style label PNG; for 16-bit, uint16 or int32 ids, never scaled). RGB, RGBA
    (alpha dropped) and other colour modes give an (H, W, 3) uint8 colour target. EXIF orientation is applied.

    A lossy file (JPEG) cannot hold exact class ids or colours: a white-on-black one (see `is_near_binary`) is
    binarised to 0/255 (foreground: grey value above 127); any other is refused with a message saying why.

    Args:
        path: the mask file.

    Returns:
        (H, W) bool / uint8 / uint16 / int32 label values (float32 for mode F), or (H, W, 3) uint8 RGB colour target.

    Raises:
        FileNotFoundError, ValueError: as `load_rgb`; a lossy mask that is not white on black.
    """
    image = _open(path)
    if image.format in _LOSSY_FORMATS:
        return _binarise_lossy(image, path)
    mode = image.mode
    if mode in ("LA", "PA"):
        image = image.getchannel(0)
    if mode == "F":
        return np.asarray(image)
    if mode in _LABEL_MODES:
        array = np.asarray(image)
        if array.dtype.byteorder == ">":  # I;16B: keep the values, native byte order
            array = array.astype(array.dtype.newbyteorder("="))
        return array
    return _rgb_array(image)


def load_label_map(path: PathLike) -> NDArray[np.int64]:
    """(H, W) int64 stored values of a single-channel or indexed (palette) label image, via `load_mask`.

    Raises:
        ValueError: the file is an RGB image (a colour target is not a label map), or unreadable.
    """
    mask = np.asarray(load_mask(path))
    if mask.ndim != 2:
        raise ValueError(f"{path}: expected a single-channel or indexed label PNG, got shape {mask.shape}")
    return mask.astype(np.int64)


TABLE_SPAN = 1 << 16  # integer maps spanning fewer values than this are counted or coloured through a table


def small_span(labels: NDArray[Any]) -> tuple[int, int] | None:
    """(lowest, highest) value of a non-empty integer array spanning fewer than `TABLE_SPAN` values, else None:
    when a table indexed by value - lowest is small enough to use."""
    if labels.size == 0 or labels.dtype.kind not in "iu":
        return None
    low, high = int(labels.min()), int(labels.max())
    return (low, high) if high - low < TABLE_SPAN else None


def label_values(labels: NDArray[np.integer]) -> NDArray[np.integer]:
    """The sorted distinct values of an integer label map, as `np.unique` gives them, found by counting when
    they span a small range (`small_span`; 5-14x faster than numpy 2's hashing on a 360x480 map; every training
    pair asks it several times)."""
    flat = labels.ravel()
    span = small_span(flat)
    if span is None:
        return np.unique(flat)
    low = span[0]
    counts = np.bincount(np.subtract(flat, low, dtype=np.intp) if low else flat)  # wide: no int16 wrap-around
    return (np.flatnonzero(counts) + low).astype(flat.dtype)


def is_single_object(labels: NDArray[np.integer]) -> bool:
    """The DAVIS-2016 rule, in one place: a grey mask holding only 0 and 255 marks one object (255), not id 255."""
    return set(label_values(labels).tolist()) <= {0, 255}


def _binarise_lossy(image: Image.Image, path: PathLike) -> NDArray[np.uint8]:
    """A JPEG mask -> (H, W) uint8 0/255 when it is white on black (grey, near-binary); else a clear error."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.int16)
    spread = rgb.max(axis=-1) - rgb.min(axis=-1)
    grey = np.asarray(image.convert("L"), dtype=np.uint8)
    if np.count_nonzero(spread > NEAR_BINARY_BAND) <= (1 - NEAR_BINARY_SHARE) * spread.size and is_near_binary(grey):
        return np.where(grey > 127, 255, 0).astype(np.uint8)
    raise ValueError(
        f"{path} is a JPEG mask that is not white on black: lossy compression changes the class ids and colours "
        "at every edge, so they cannot be read back; save the mask as PNG (or give a white-on-black mask)"
    )
