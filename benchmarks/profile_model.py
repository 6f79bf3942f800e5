"""Where one forward's time goes: torch.profiler over ours and transformers' SegGpt on the same random weights.

For each implementation, times `--repeats` forwards (after `--warmup`) under the profiler and prints the wall time
per forward, the device's busy time per forward (the sum of its kernels; on a GPU, wall minus busy is the time
the device waited for Python to launch work) and the operators or kernels that take the most time.

    python benchmarks/profile_model.py --device cuda --dtype bf16 --batch 8             # ViT-L on a GPU
    python benchmarks/profile_model.py --device cpu --preset seggpt-test --dtype fp32   # a dry run anywhere

Writes `--json` (optional) with the same numbers. Needs transformers, as bench_model.py.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from bench_model import build_variant, forward_fn
from torch.profiler import ProfilerActivity, profile

from seggpt.inference.precision import autocast
from seggpt.model import build_seggpt, get_preset


def profile_variant(variant: str, args: argparse.Namespace, ours: torch.nn.Module, config: Any) -> dict[str, Any]:
    """Wall and device time per forward of one implementation, and its `--top` most expensive entries."""
    model = build_variant(variant, args.dtype, ours, config, args.device)
    forward = forward_fn(variant, model, config, args.batch, args.device)
    cuda = args.device == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with torch.inference_mode(), autocast(args.dtype, args.device):
        for _ in range(args.warmup):
            forward()
        sync()
        with profile(activities=activities) as prof:
            start = time.perf_counter()
            for _ in range(args.repeats):
                forward()
            sync()
            wall = (time.perf_counter() - start) / args.repeats
    events = prof.key_averages()
    if cuda:  # kernels only: entries that ran on the device and are not operators wrapping other entries
        kernels = [e for e in events if e.device_type == torch.autograd.DeviceType.CUDA]
        key = "device_time_total"
    else:  # the CPU's own time of each operator
        kernels = [e for e in events if e.self_cpu_time_total > 0]
        key = "self_cpu_time_total"
    total_us = sum(getattr(e, key) for e in kernels)
    top = sorted(kernels, key=lambda e: getattr(e, key), reverse=True)[: args.top]
    rows = [
        {"name": e.key[:90], "ms_per_forward": getattr(e, key) / 1e3 / args.repeats,
         "share": getattr(e, key) / total_us, "calls_per_forward": e.count / args.repeats}
        for e in top
    ]  # fmt: skip
    return {"variant": variant, "wall_ms": 1e3 * wall, "busy_ms": total_us / 1e3 / args.repeats, "top": rows}


def show(result: dict[str, Any]) -> None:
    print(f"\n{result['variant']}: {result['wall_ms']:.1f} ms per forward, device busy {result['busy_ms']:.1f} ms")
    print(f"{'ms/fwd':>8} {'share':>6} {'calls':>6}  name")
    for row in result["top"]:
        print(f"{row['ms_per_forward']:8.2f} {row['share']:6.1%} {row['calls_per_forward']:6.0f}  {row['name']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
    parser.add_argument("--preset", default="seggpt-vit-large")
    parser.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default="bf16")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--variants", default="ours,transformers", help="comma list of ours, transformers")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available on this machine")
    torch.manual_seed(0)
    config = get_preset(args.preset)
    ours = build_seggpt(config, device=args.device).eval()
    results = []
    for variant in args.variants.split(","):
        results.append(profile_variant(variant, args, ours, config))
        show(results[-1])
    if args.json:
        meta = {"device": torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu", "torch": torch.__version__}
        args.json.write_text(json.dumps({**meta, **vars(args), "json": str(args.json), "results": results}, indent=1))


if __name__ == "__main__":
    main()
