"""The one in-context call: prompts + their targets + queries -> the model's colour output for the queries.

`Segmenter`, `VideoSegmenter`, in-context tuning and training's held-out evaluation all reach the model
through `paint_queries`, so the canvas layout (prompt on top, query below, the bottom target masked), the
feature-ensemble grouping and the precision handling exist once.
"""

from __future__ import annotations

import contextlib

import torch
from torch import Tensor, nn

from seggpt.inference.canvas import build_canvases
from seggpt.model.seggpt import SegType


def paint_queries(
    model: nn.Module,
    prompt_images: Tensor,
    prompt_targets: Tensor,
    query_images: Tensor,
    query_targets: Tensor | None = None,
    *,
    seg_type: SegType | Tensor = "instance",
    ensemble: bool = False,
    autocast_dtype: torch.dtype | None = None,
    first_canvas_only: bool = False,
) -> Tensor:
    """Run the model on one canvas per (query, prompt) and return the painted query halves.

    Gradients flow when the caller allows them (tuning); segmenters call it under `torch.inference_mode`.

    Args:
        model: a SegGPT (or a wrapper with its forward signature, e.g. DDP in training).
        prompt_images, prompt_targets: (Q, P, 3, h, w) normalized prompts of each query, or (P, 3, h, w)
            shared by all queries.
        query_images: (Q, 3, h, w) normalized queries.
        query_targets: (Q, 3, h, w) what the masked query half of the target canvas holds (the model never
            sees it; tuning and training put the true targets there); default each canvas's prompt target.
        seg_type: the type token: "instance", "semantic", or a (Q,) int64 tensor of official codes per query.
        ensemble: combine each query's P canvases by the feature ensemble (paper section 3.2); False runs
            every canvas alone.
        autocast_dtype: run under `torch.autocast` in this dtype (e.g. torch.bfloat16); None runs in the
            model's own parameter dtype (the canvases are cast to it).
        first_canvas_only: decode only each query's first canvas (what the official feature ensemble reads):
            the decoder runs on Q canvases instead of Q * P.

    Returns:
        (Q, P, 3, h, w) float32 normalized colour output: per query, the query half of each of its canvases
        (with the ensemble they differ only in the first row, where the 3x3 conv sees the prompt half);
        (Q, 1, 3, h, w) with `first_canvas_only`.
    """
    Q = query_images.shape[0]
    if prompt_images.dim() == 4:
        prompt_images = prompt_images.expand(Q, *prompt_images.shape)
        prompt_targets = prompt_targets.expand(Q, *prompt_targets.shape)
    P = prompt_images.shape[1]
    prompt_targets = prompt_targets.reshape(Q * P, *prompt_targets.shape[2:])
    image_canvas, target_canvas = build_canvases(  # (Q*P, 3, 2h, w): query q's prompts together
        prompt_images.reshape(Q * P, *prompt_images.shape[2:]), prompt_targets, query_images.repeat_interleave(P, 0)
    )
    if query_targets is not None:
        target_canvas = torch.cat([prompt_targets, query_targets.repeat_interleave(P, dim=0)], dim=2)
    device = query_images.device
    groups = torch.arange(Q, device=device).repeat_interleave(P) if ensemble else None
    extra: dict[str, object] = {"shared_query": True} if ensemble else {}  # a group's query half runs once
    if first_canvas_only:
        extra["decode_index"] = torch.arange(Q, device=device) * P
    if isinstance(seg_type, Tensor):
        seg_type = seg_type.to(device).repeat_interleave(P)
    param = next(model.parameters(), None)
    if param is not None:
        image_canvas, target_canvas = image_canvas.to(param.dtype), target_canvas.to(param.dtype)
    autocast = (
        torch.autocast(device.type, dtype=autocast_dtype) if autocast_dtype is not None else contextlib.nullcontext()
    )
    with autocast:
        out = model(
            image_canvas,
            target_canvas,
            seg_type=seg_type,
            ensemble_groups=groups,
            query_only=True,
            **extra,
        )
    return out.float().view(Q, -1, *out.shape[1:])
