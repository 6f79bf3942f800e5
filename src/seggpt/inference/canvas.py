"""Image <-> model tensors, and the prompt/query canvases of the official inference code."""

from __future__ import annotations

import functools
from typing import cast

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
