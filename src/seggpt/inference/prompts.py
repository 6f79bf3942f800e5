"""Prompt masks in every form users have -> the colour targets SegGPT reads, with one class table for all prompts.

Forms (`mask_type="auto"` tells them apart; name the form to override):
- binary: bool, 0/1, 0/255, float in [0, 1] (> 0.5), or an anti-aliased white-on-black 8-bit mask (the official
  demo targets: max 255 and >= 90 % of the foreground pixels exactly 255; foreground = value > 127). Class id 1.
- labels: integer label maps (uint8, uint16, int32), 0 = background, optional `ignore_value`. The class ids are the
  stored values. Several classes get palette colours (reference section 2) unless `colours` are given; a class
  keeps one colour across all prompts. With `mask_type="auto"`, more than 64 distinct values that change from
  pixel to pixel (over 25 % of horizontal neighbours differ) is refused as implausible (a photo, or a label map
  saved lossily); name the form "labels" to force it.
- colour: (H, W, 3) RGB colour targets with flat colours; black = background, each other colour one class
  (ids 1..K in sorted colour order), the user's colours kept. A grey RGB mask (R = G = B) is read as 2-D.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from seggpt.data.io import as_rgb, is_near_binary, is_single_object, load_mask
from seggpt.inference.palette import MIN_COLOUR_DISTANCE, labels_to_colours, min_colour_distance, palette

MaskType = Literal["auto", "binary", "labels", "colour"]
MAX_TARGET_COLOURS = 64  # more distinct colours in an RGB target means anti-aliasing or JPEG, not flat classes
MAX_AUTO_LABEL_IDS = 64  # with more distinct values and ...
MAX_AUTO_LABEL_EDGES = 0.25  # ... more than this share of neighbours differing, an "auto" mask is a photo


@dataclass(frozen=True)
class PromptTargets:
    """Colour targets for the prompts and the class table shared by all of them.

    Attributes:
        targets: one (H_i, W_i, 3) uint8 RGB colour target per prompt, at its mask's size; ignore pixels black.
        class_ids: (K,) int64 the user's class ids, ascending (binary masks: [1]).
        colours: (K + 1, 3) uint8 colour table; row 0 = background = black, row k = class_ids[k - 1].
        indexes: one (H_i, W_i) int64 map per prompt into that table: 0 background, k class_ids[k - 1], -1 ignore
            (what in-context tuning learns from; empty for a tuned prompt, which has no masks).
    """

    targets: list[NDArray[np.uint8]]
    class_ids: NDArray[np.int64]
    colours: NDArray[np.uint8]
    indexes: list[NDArray[np.int64]] = field(default_factory=list)


def _squeeze_grey(mask: NDArray[Any], mask_type: MaskType) -> NDArray[Any]:
    """(H, W, 3) with R = G = B -> (H, W), unless the user asked for a colour target."""
    if mask.ndim == 3 and mask_type != "colour" and (mask[..., :1] == mask).all():
        return mask[..., 0]
    return mask


def _is_anti_aliased(values: NDArray[Any]) -> bool:
    """An 8-bit white-on-black mask with soft edges: max 255, >= 90 % of the non-zero pixels exactly 255."""
    nonzero = values[values > 0]
    return bool(nonzero.size and values.max() == 255 and (nonzero == 255).mean() >= 0.9)


def _is_lossy_binary(values: NDArray[Any]) -> bool:
    """A white-on-black mask with compression noise: many distinct values, nearly all near 0 or 255."""
    return len(np.unique(values)) > 16 and is_near_binary(values)


def _is_photo_like(ids: NDArray[np.int64]) -> bool:
    """Many distinct values that change from pixel to pixel: a photo or a lossy label map, not regions of ids."""
    if len(np.unique(ids)) <= MAX_AUTO_LABEL_IDS or ids.shape[1] < 2:
        return False
    return bool((ids[:, 1:] != ids[:, :-1]).mean() > MAX_AUTO_LABEL_EDGES)


def _label_map(mask: NDArray[Any], mask_type: MaskType, ignore_value: int | None, name: str) -> NDArray:
    """2-D mask -> (H, W) int64 class ids (0 background, -1 ignore)."""
    if mask.dtype == bool:
        return mask.astype(np.int64)
    if np.issubdtype(mask.dtype, np.floating):
        if not np.isfinite(mask).all():
            raise ValueError(f"{name}: the mask holds NaN or infinite values")
        if mask.min() >= 0 and mask.max() <= 1:
            return (mask > 0.5).astype(np.int64)
        if (mask != np.round(mask)).any():
            raise ValueError(f"{name}: a float mask must lie in [0, 1] or hold whole-number class ids")
    elif not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"{name}: unsupported mask dtype {mask.dtype}; expected bool, integer or float")
    ids = mask.astype(np.int64)
    if ids.min(initial=0) < 0:
        raise ValueError(f"{name}: label ids must be >= 0, got {ids.min()}")
    ignore = ids == ignore_value if ignore_value is not None else np.zeros(ids.shape, dtype=bool)
    kept = ids[~ignore]
    if mask_type == "binary":
        fg = ids > (127 if kept.max(initial=0) > 1 else 0)
    elif mask_type == "auto" and is_single_object(kept):
        fg = ids == 255
    elif mask_type == "auto" and mask.dtype == np.uint8 and (_is_anti_aliased(kept) or _is_lossy_binary(kept)):
        fg = ids > 127
    elif mask_type == "auto" and _is_photo_like(ids):
        raise ValueError(
            f"{name}: {len(np.unique(kept))} distinct values is not a plausible label map (a photo, or a mask saved "
            "with lossy compression?); expected a white-on-black mask or a PNG label map of class ids"
        )
    else:
        ids[ignore] = -1
        return ids
    out = fg.astype(np.int64)
    out[ignore] = -1
    return out


def _check_colours(colours: NDArray[np.uint8], what: str) -> None:
    """Every class colour differs from black and from every other by at least MIN_COLOUR_DISTANCE."""
    distance = min_colour_distance(colours)
    if distance < MIN_COLOUR_DISTANCE:
        raise ValueError(
            f"{what}: {len(colours) - 1} classes are more than the colours can separate: two colours (or a colour "
            f"and black) are only {distance:.1f} apart; expected at least {MIN_COLOUR_DISTANCE:.0f}"
        )


def _class_colours(class_ids: NDArray[np.int64], colours: Mapping[int, Sequence[int]] | None) -> NDArray[np.uint8]:
    """(K + 1, 3) colour table: the user's colours by class id, else the reference palette."""
    K = len(class_ids)
    if colours is None:
        margin = 256 // (int(K ** (1 / 3)) + 1)
        if margin < MIN_COLOUR_DISTANCE:
            raise ValueError(
                f"the prompt masks hold {K} classes, more than the palette can separate (colours would be {margin} "
                f"apart, expected at least {MIN_COLOUR_DISTANCE:.0f}); merge classes or give fewer"
            )
        return palette(K)
    missing = [int(k) for k in class_ids if int(k) not in colours]
    if missing:
        raise ValueError(f"colours: no colour given for class ids {missing}; expected one (R, G, B) per class")
    table = np.zeros((K + 1, 3), dtype=np.uint8)
    for row, k in enumerate(class_ids, start=1):
        rgb = np.asarray(colours[int(k)])
        if rgb.shape != (3,) or rgb.min() < 0 or rgb.max() > 255:
            raise ValueError(f"colours: class {int(k)} has colour {rgb.tolist()}; expected (R, G, B) in 0..255")
        table[row] = rgb
    _check_colours(table, "colours")
    return table


def _colour_keys(rgb: NDArray[np.uint8]) -> NDArray[np.int64]:
    """(..., 3) uint8 colours -> (...) int64 keys R * 65536 + G * 256 + B (their order is the colours' sorted order)."""
    c = rgb.astype(np.int64)
    return (c[..., 0] << 16) | (c[..., 1] << 8) | c[..., 2]


def _encode_colour_targets(masks: list[NDArray[Any]], names: list[str]) -> PromptTargets:
    """RGB colour targets: each distinct non-black colour is one class, colours kept as given."""
    found = []
    for mask, name in zip(masks, names):
        if mask.dtype != np.uint8:
            raise ValueError(f"{name}: an RGB colour target must be uint8, got {mask.dtype}")
        unique = np.unique(mask.reshape(-1, 3), axis=0)
        if len(unique) > MAX_TARGET_COLOURS:
            raise ValueError(
                f"{name}: the colour target has {len(unique)} distinct colours, expected at most {MAX_TARGET_COLOURS} "
                "flat class colours (anti-aliased or JPEG-compressed?); give a label map or a binary mask instead"
            )
        found.append(unique[unique.any(axis=1)])
    table = np.concatenate([np.zeros((1, 3), np.uint8), np.unique(np.concatenate(found), axis=0)])
    _check_colours(table, "colour targets")
    class_ids = np.arange(1, len(table), dtype=np.int64)
    keys = _colour_keys(table)  # ascending: the rows are sorted colours after black
    indexes = [np.searchsorted(keys, _colour_keys(m)).astype(np.int64) for m in masks]  # every colour is a row
    return PromptTargets([np.ascontiguousarray(m, dtype=np.uint8) for m in masks], class_ids, table, indexes)


def encode_prompt_masks(
    masks: Sequence[NDArray[Any]],
    *,
    ignore_value: int | None = None,
    colours: Mapping[int, Sequence[int]] | None = None,
    mask_type: MaskType = "auto",
    names: Sequence[str] | None = None,
    image_sizes: Sequence[tuple[int, int]] | None = None,
) -> PromptTargets:
    """Turn the users' prompt masks into colour targets with one class table for all prompts.

    Args:
        masks: per prompt, an (H, W) bool / integer / float mask or an (H, W, 3) uint8 RGB colour target.
        ignore_value: a label value meaning "unlabelled" (e.g. 255 in VOC); painted black in the target. It must
            not lie between the smallest and largest class id, and cannot be 0 (the background).
        colours: class id -> (R, G, B) for label masks; default the reference palette.
        mask_type: "auto" (see the module doc), or force "binary", "labels" or "colour".
        names: names for error messages (e.g. file paths); default "prompt mask i".
        image_sizes: (H, W) of each prompt image; a mask of another size is an error.

    Returns:
        PromptTargets with one colour target per mask.

    Raises:
        ValueError: a mask of the wrong size or form, an empty mask, too many classes, a bad ignore value.
    """
    if not masks:
        raise ValueError("at least one prompt mask is required")
    names = list(names) if names is not None else [f"prompt mask {i}" for i in range(len(masks))]
    if ignore_value == 0:
        raise ValueError("ignore_value 0 is the background; expected the value of unlabelled pixels, e.g. 255")
    arrays = []
    for i, (mask, name) in enumerate(zip(masks, names)):
        mask = np.asarray(mask)
        if mask.ndim == 3 and mask.shape[2] == 4:
            mask = mask[..., :3]
        if mask.ndim not in (2, 3) or (mask.ndim == 3 and mask.shape[2] != 3):
            raise ValueError(f"{name}: expected an (H, W) mask or an (H, W, 3) colour target, got {mask.shape}")
        if image_sizes is not None and tuple(mask.shape[:2]) != tuple(image_sizes[i]):
            raise ValueError(
                f"{name}: mask size {mask.shape[1]}x{mask.shape[0]} (WxH) differs from its image's "
                f"{image_sizes[i][1]}x{image_sizes[i][0]}; expected the same size"
            )
        arrays.append(_squeeze_grey(mask, mask_type))
    is_colour = [a.ndim == 3 for a in arrays]
    if any(is_colour) and not all(is_colour):
        raise ValueError("the prompt masks mix RGB colour targets and label/binary masks; expected one form for all")
    if mask_type == "colour" and not all(is_colour):
        raise ValueError("mask_type 'colour' needs (H, W, 3) RGB masks")
    if all(is_colour):
        if colours is not None:
            raise ValueError("colours apply to label masks; an RGB colour target keeps its own colours")
        for mask, name in zip(arrays, names):
            if not mask.any():
                raise ValueError(f"{name}: the prompt mask is empty (all black); expected some foreground")
        return _encode_colour_targets(arrays, names)
    label_maps = [_label_map(a, mask_type, ignore_value, n) for a, n in zip(arrays, names)]
    for ids, name in zip(label_maps, names):
        if not (ids > 0).any() and (ids < 0).any():
            raise ValueError(
                f"{name}: the prompt mask is empty (every pixel that is not background is the ignore value "
                f"{ignore_value}); drop the ignore value (a white-on-black mask needs none)"
            )
        if not (ids > 0).any():
            raise ValueError(f"{name}: the prompt mask is empty (no foreground pixels); expected some foreground")
    class_ids = np.unique(np.concatenate([np.unique(ids[ids > 0]) for ids in label_maps])).astype(np.int64)
    if ignore_value is not None and class_ids[0] < ignore_value < class_ids[-1]:
        raise ValueError(
            f"ignore_value {ignore_value} lies inside the class range [{class_ids[0]}, {class_ids[-1]}]; expected "
            "a value outside the class ids (e.g. 255)"
        )
    table = _class_colours(class_ids, colours)
    indexes = [
        np.where(ids > 0, np.searchsorted(class_ids, np.maximum(ids, 0)) + 1, np.minimum(ids, 0)) for ids in label_maps
    ]
    targets = [labels_to_colours(np.maximum(index, 0), table) for index in indexes]  # ignore -> black
    return PromptTargets(targets, class_ids, table, indexes)


def load_prompts(
    images: Sequence[NDArray[np.uint8] | str | Path],
    masks: Sequence[NDArray[Any] | str | Path],
    *,
    ignore_value: int | None = None,
    colours: Mapping[int, Sequence[int]] | None = None,
    mask_type: MaskType = "auto",
) -> tuple[list[NDArray[np.uint8]], PromptTargets]:
    """Example images and their masks, each given as an array or a file path, read and encoded once: what
    `Segmenter.set_prompts` shows the model and what in-context tuning learns from.

    Returns:
        The (H, W, 3) uint8 images and their `encode_prompt_masks` targets (errors name the file, or
        "prompt image i" / "prompt mask i" for arrays).
    """
    rgb = [as_rgb(image, f"prompt image {i}") for i, image in enumerate(images)]
    prompts = encode_prompt_masks(
        [load_mask(m) if isinstance(m, str | Path) else np.asarray(m) for m in masks],
        ignore_value=ignore_value,
        colours=colours,
        mask_type=mask_type,
        names=[str(m) if isinstance(m, str | Path) else f"prompt mask {i}" for i, m in enumerate(masks)],
        image_sizes=[image.shape[:2] for image in rgb],
    )
    return rgb, prompts
