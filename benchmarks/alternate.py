"""Shared by the A/B benchmarks: one query's input to the whole model, and two ways of running it timed in
alternation in one process (so a machine whose speed drifts affects both alike)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from seggpt.model import SegGPT


def query_input(model: SegGPT, prompts: int) -> tuple[Tensor, Tensor, dict[str, Any]]:
    """Random (P, 3, H, W) image and target canvases with one query below every prompt, and the forward's
    keyword arguments as `Segmenter` / `VideoSegmenter` call it (feature ensemble, shared query, first canvas
    decoded) when there are several prompt canvases; seeded."""
    H, W = model.config.image_size
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(prompts, 3, H, W, generator=generator)
    target = torch.randn(prompts, 3, H, W, generator=generator)
    image[:, :, H // 2 :] = image[:1, :, H // 2 :]
    groups = torch.zeros(prompts, dtype=torch.long) if prompts > 1 else None
    kwargs: dict[str, Any] = {"ensemble_groups": groups, "query_only": True, "shared_query": groups is not None}
    if groups is not None:
        kwargs["decode_index"] = torch.zeros(1, dtype=torch.long)
    return image, target, kwargs


def alternate(runs: dict[str, Callable[[], Tensor]], repeats: int) -> dict[str, Any]:
    """Time the two no-argument `runs` in alternation (order swapped every round) after one warm-up each.

    Returns:
        {"<name>_ms": median ms of each, "speedup": second's median / first's, "max_abs_diff": between their
        outputs, "repeats": repeats}.
    """
    first, second = runs
    times: dict[str, list[float]] = {first: [], second: []}
    with torch.inference_mode():
        outputs = {name: run() for name, run in runs.items()}
        for i in range(repeats):
            for name in (first, second) if i % 2 else (second, first):
                start = time.perf_counter()
                runs[name]()
                times[name].append(time.perf_counter() - start)
    ms = {name: 1e3 * statistics.median(t) for name, t in times.items()}
    return {
        f"{first}_ms": ms[first],
        f"{second}_ms": ms[second],
        "speedup": ms[second] / ms[first],
        "max_abs_diff": (outputs[first] - outputs[second]).abs().max().item(),
        "repeats": repeats,
    }
