"""Shared by the A/B benchmarks (bench_attention.py, bench_linear.py): their common options, the model, one
query's input to it, two ways of running it timed in alternation in one process (so a machine whose speed
drifts affects both alike), and the JSON row."""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from seggpt import load_model
from seggpt.model import SegGPT, build_seggpt, get_preset


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, --preset, --prompts, --repeats, --threads, --json."""
    parser.add_argument("--model", default="seggpt-default", help="checkpoint or name (default: seggpt-default)")
    parser.add_argument("--preset", help="random weights of this architecture instead of --model")
    parser.add_argument("--prompts", type=int, default=1, help="prompt canvases of one query (default 1)")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs of each kind (default 10)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", help="also write the result here")


def setup(args: argparse.Namespace) -> tuple[SegGPT, dict[str, Any]]:
    """Apply --threads, build the model (random seeded weights of --preset, or --model) and start the result
    row, printing its header line."""
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = build_seggpt(get_preset(args.preset)).eval() if args.preset else load_model(args.model)
    row = {"model": args.preset or args.model, "prompts": args.prompts, "threads": torch.get_num_threads()}
    print(f"{row['model']}, {args.prompts} prompt canvas(es), {row['threads']} threads, median of {args.repeats}:")
    return model, row


def save(row: dict[str, Any], path: str | None) -> None:
    """Write the result row as JSON to `path` (if given)."""
    if path:
        with open(path, "w") as f:
            json.dump(row, f, indent=2)


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
        {"<name>_ms": median ms of each, "speedup": second's median / first's, "paired_speedup": the median of
        the round-by-round ratios, "max_abs_diff": between their outputs, "repeats": repeats}.
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
        "paired_speedup": statistics.median(b / a for a, b in zip(times[first], times[second], strict=True)),
        "max_abs_diff": (outputs[first] - outputs[second]).abs().max().item(),
        "repeats": repeats,
    }
