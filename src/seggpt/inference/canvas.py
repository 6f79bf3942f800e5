"""Image <-> model tensors, and the prompt/query canvases of the official inference code."""

from __future__ import annotations

import functools
import math
from typing import Literal, cast

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from seggpt.inference.resize import resize_image, resize_target

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
Resize = Literal["stretch", "pad"]  # how an image meets the model's size: "stretch" to it (official) or "pad"


def _normalize_float(x: Tensor) -> Tensor:
    """(3, ...) float32 in [0, 255] -> /255 then ImageNet mean/std, channel by channel."""
    shape = (3,) + (1,) * (x.dim() - 1)
    return (x / 255.0 - torch.tensor(IMAGENET_MEAN).view(shape)) / torch.tensor(IMAGENET_STD).view(shape)


@functools.cache
def _uint8_table() -> NDArray[np.float32]:
    """(3, 256): every uint8 value of every channel normalized by `_normalize_float` itself, so a lookup gives
    the very floats the arithmetic gives."""
    return _normalize_float(torch.arange(256, dtype=torch.float32).expand(3, 256)).numpy()


def normalize(rgb: NDArray[np.uint8] | NDArray[np.floating]) -> Tensor:
    """(H, W, 3) RGB in [0, 255] -> (3, H, W) float32, /255 then ImageNet mean/std (images and targets alike).

    uint8 input is looked up in a table of the 256 values (the same floats, 2-3x faster: this runs four times
    per training pair and once per frame of a video)."""
    if rgb.dtype == np.uint8:
        table, indices = _uint8_table(), cast(NDArray[np.uint8], rgb)
        return torch.from_numpy(np.stack([np.take(table[c], indices[..., c]) for c in range(3)]))
    return _normalize_float(torch.from_numpy(np.array(rgb, dtype=np.float32)).permute(2, 0, 1))


def denormalize(x: Tensor) -> NDArray[np.float32]:
    """(3, H, W) normalized -> (H, W, 3) float32 RGB in [0, 255]: clip((x * std + mean) * 255, 0, 255)."""
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(3, 1, 1)
    rgb = ((x.float() * std + mean) * 255).clamp(0, 255)
    return rgb.permute(1, 2, 0).cpu().numpy()


def build_canvases(prompt_images: Tensor, prompt_targets: Tensor, query_images: Tensor) -> tuple[Tensor, Tensor]:
    """Stack prompt (top) and query (bottom) into canvases, as the official inference does.

    Args:
        prompt_images, prompt_targets: (B, 3, h, W) normalized prompt halves.
        query_images: (B, 3, h, W) normalized query halves.

    Returns:
        image_canvas, target_canvas: (B, 3, 2h, W); the target's bottom half is a copy of the prompt
        target (it is masked, never seen).
    """
    image_canvas = torch.cat([prompt_images, query_images], dim=2)
    target_canvas = torch.cat([prompt_targets, prompt_targets], dim=2)
    return image_canvas, target_canvas


@functools.cache
def _black() -> Tensor:
    """(3,) a black target pixel in normalized space."""
    return normalize(np.zeros((1, 1, 3), np.uint8))[:, 0, 0]


def fit_to_size(rgb: NDArray[np.uint8], size: tuple[int, int], resize: Resize, target: bool) -> tuple[Tensor, tuple]:
    """(H, W, 3) uint8 -> ((3, h, w) normalized tensor, (h', w') region holding the image, top-left).

    "stretch" resizes to `size` (bicubic images, nearest targets); "pad" keeps the aspect ratio and pads the
    bottom and right: images with the ImageNet mean (0 after normalizing), targets with black.
    """
    fit = resize_target if target else resize_image
    if resize == "stretch":
        return normalize(fit(rgb, size)), size
    scale = min(size[0] / rgb.shape[0], size[1] / rgb.shape[1])
    inner = (max(1, min(size[0], round(rgb.shape[0] * scale))), max(1, min(size[1], round(rgb.shape[1] * scale))))
    x = normalize(fit(rgb, inner))
    fill = _black() if target else torch.zeros(3)
    out = fill.view(3, 1, 1).repeat(1, *size)
    out[:, : inner[0], : inner[1]] = x
    return out, inner


def tile_grid(items: list[NDArray[np.uint8]], size: tuple[int, int], resize: Resize, target: bool) -> Tensor:
    """Spatial ensemble: an n x n grid of prompts (n = ceil(sqrt(P)), cells cycle through the prompts)."""
    n = math.ceil(math.sqrt(len(items)))
    rows = [round(i * size[0] / n) for i in range(n + 1)]
    cols = [round(j * size[1] / n) for j in range(n + 1)]
    out = torch.empty(3, *size)
    for cell in range(n * n):
        i, j = divmod(cell, n)
        cell_size = (rows[i + 1] - rows[i], cols[j + 1] - cols[j])
        out[:, rows[i] : rows[i + 1], cols[j] : cols[j + 1]] = fit_to_size(
            items[cell % len(items)], cell_size, resize, target
        )[0]
    return out
