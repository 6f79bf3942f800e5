"""AdamW parameter groups (no decay on norms, biases and tokens; optional layer-wise lr decay) and the schedule."""

from __future__ import annotations

import math

import torch
from torch import nn

from seggpt.training.config import OptimSection

NO_DECAY_NAMES = (
    "mask_token",
    "segment_token_x",
    "segment_token_y",
    "type_token_cls",
    "type_token_ins",
    "pos_embed",
    "rel_pos_h",
    "rel_pos_w",
)


def layer_id(name: str, depth: int) -> int:
    """0 for the embedding (patch embed, tokens, positions), i + 1 for block i, depth + 1 for the norm and decoder."""
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    if name.startswith(("patch_embed", "pos_embed")) or name in NO_DECAY_NAMES:
        return 0
    return depth + 1


def param_groups(model: nn.Module, weight_decay: float, layer_decay: float = 1.0) -> list[dict]:
    """AdamW groups: parameters with ndim <= 1 and the learned tokens get no weight decay; with layer_decay < 1,
    layer l's learning rate is scaled by layer_decay ** (depth + 1 - l) (`lr_scale` in each group)."""
    depth = len(getattr(model, "blocks", []))
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decay = param.ndim > 1 and name.split(".")[-1] not in NO_DECAY_NAMES
        lid = layer_id(name, depth)
        group = groups.setdefault(
            (lid, decay),
            {
                "params": [],
                "weight_decay": weight_decay if decay else 0.0,
                "lr_scale": layer_decay ** (depth + 1 - lid),
            },
        )
        group["params"].append(param)
    return [groups[k] for k in sorted(groups)]


def build_optimizer(model: nn.Module, optim: OptimSection) -> torch.optim.AdamW:
    """AdamW over `param_groups(model)` at the base learning rate (the schedule sets it every step)."""
    return torch.optim.AdamW(param_groups(model, optim.weight_decay, optim.layer_decay), lr=optim.lr, betas=optim.betas)


def warmup_cosine(step: int, total_steps: int, *, lr: float, min_lr: float, warmup_steps: int) -> float:
    """Learning rate of `step` (0-based): linear warmup to `lr` over warmup_steps, then cosine down to `min_lr`."""
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / span)
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))


def lr_at(step: int, total_steps: int, optim: OptimSection) -> float:
    """`warmup_cosine` with the training config's lr, min_lr and warmup_steps."""
    return warmup_cosine(step, total_steps, lr=optim.lr, min_lr=optim.min_lr, warmup_steps=optim.warmup_steps)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every group's learning rate to lr times its `lr_scale`."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
