"""Forward latency and peak memory of our SegGPT against transformers' SegGptForImageSegmentation.

One run builds random weights (seeded) for a preset, gives the same weights to both implementations
(transformers' through our rename table) and times each (variant, precision, batch) on the same random
one-prompt input: `query_only` for ours, the query half of transformers' output. Reports the median
latency, peak memory, ratios (transformers / ours) and the max abs difference of the outputs.

    python benchmarks/bench_model.py --device cpu --dtypes fp32,int8 --batch 1 --threads 2
    python benchmarks/bench_model.py --device cuda --dtypes fp32,bf16,fp16 --batch 1,8 --compile bf16:8 --fidelity

CPU: each measurement runs in its own process (peak RSS is its own, VmHWM after the warm-up). CUDA: in one
process; peak = the forward's extra allocated memory + the implementation's weights, as if alone.
bf16/fp16 are autocast for both; int8 (ours only, CPU) is compared with transformers fp32. `--compile
DTYPE:BATCH` also times ours under torch.compile there; `--fidelity` compares ours fp32 on the device in
fidelity mode (no TF32, math attention) and in the default mode with a CPU fp32 reference (batch 1).
Needs transformers (a test/benchmark dependency); imports nothing that needs pycocotools or PyAV.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from seggpt.inference.precision import autocast, cpu_flags, fidelity, prepare_model, resolve_dtype
from seggpt.model import build_seggpt, get_preset, load_model, save_model
from seggpt.model.config import SegGPTConfig
from seggpt.model.hub import config_to_hf, official_to_hf

REFERENCE_DTYPES = ("fp32", "bf16", "fp16")  # what transformers runs (int8 is ours only)
COMPILE_RESERVE_S = 75.0  # a compiled ViT-L measurement starts only with this much of --budget left


def reference_model(config: SegGPTConfig, state_dict: dict[str, Tensor], device: str) -> nn.Module:
    """transformers' SegGptForImageSegmentation holding our weights (built on meta: no random init)."""
    from transformers import SegGptConfig, SegGptForImageSegmentation

    with torch.device("meta"):
        model = SegGptForImageSegmentation(SegGptConfig(**config_to_hf(config)))
    model.load_state_dict(official_to_hf(state_dict), strict=True, assign=True)
    return model.to(device).eval()


def make_inputs(config: SegGPTConfig, batch: int, device: str) -> tuple[Tensor, Tensor, Tensor]:
    """Random (B, 3, h, w) prompt image, prompt target and query image at the query size (seeded)."""
    g = torch.Generator().manual_seed(0)
    shape = (batch, 3, *config.query_size)
    return tuple(torch.randn(shape, generator=g).to(device) for _ in range(3))  # type: ignore[return-value]


def forward_fn(variant: str, model: nn.Module, config: SegGPTConfig, batch: int, device: str) -> Any:
    """A no-argument forward of `variant` on the random input, returning the (B, 3, h, w) query output."""
    prompt, target, query = make_inputs(config, batch, device)
    if variant == "transformers":
        h = config.query_size[0]
        return lambda: model(pixel_values=query, prompt_pixel_values=prompt, prompt_masks=target).pred_masks[:, :, h:]
    image_canvas, target_canvas = torch.cat([prompt, query], dim=2), torch.cat([target, target], dim=2)
    return lambda: model(image_canvas, target_canvas, query_only=True)


def time_forward(
    forward: Any, device: str, warmup: int, repeats: int, clock: Any = time.perf_counter
) -> tuple[list[float], Tensor, float]:
    """(seconds per timed forward, last output, seconds of the first call) after `warmup` untimed calls."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    start = clock()
    out = forward()
    sync()
    first = clock() - start
    for _ in range(warmup - 1):
        forward()
    sync()
    times = []
    for _ in range(repeats):
        start = clock()
        out = forward()
        sync()
        times.append(clock() - start)
    return times, out.float().cpu(), first


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def build_variant(variant: str, precision: str, ours: nn.Module, config: SegGPTConfig, device: str) -> nn.Module:
    """The module to time: transformers' on `ours`'s weights, or ours prepared for `precision` (compiled)."""
    if variant == "transformers":
        return reference_model(config, ours.state_dict(), device)
    return prepare_model(ours, precision, torch.device(device), compile=variant == "ours-compiled")  # type: ignore[arg-type]


def measure(
    variant: str, precision: str, batch: int, model: nn.Module, config: SegGPTConfig, args: argparse.Namespace
) -> tuple[dict[str, Any], Tensor]:
    """Time one implementation, return (result row, output). Runs in a child process on CPU."""
    device = args.device
    params = sum(p.numel() * p.element_size() for p in model.parameters()) + sum(
        b.numel() * b.element_size() for b in model.buffers()
    )
    forward = forward_fn(variant, model, config, batch, device)
    with torch.inference_mode(), autocast(precision, device):  # type: ignore[arg-type]
        if device == "cuda":
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
        else:
            forward()  # warm-up before resetting the peak (first-call allocations are not the steady state)
            Path("/proc/self/clear_refs").write_text("5")
        clock = time.process_time if args.clock == "cpu" else time.perf_counter
        times, out, first = time_forward(forward, device, args.warmup, args.repeats, clock)
        if device == "cuda":
            peak_mib = (torch.cuda.max_memory_allocated() - base + params) / 2**20
        else:
            peak_mib = rss_kib("VmHWM") / 1024
    row = {"variant": variant, "dtype": precision, "batch": batch, "ms": 1e3 * statistics.median(times),
           "ms_min": 1e3 * min(times), "first_call_s": first, "peak_mib": peak_mib, "repeats": len(times)}  # fmt: skip
    return row, out


def run_measurement(
    variant: str, precision: str, batch: int, ours: nn.Module, config: SegGPTConfig, args: argparse.Namespace, tmp: Path
) -> tuple[dict[str, Any], Tensor]:
    """`measure` in this process (CUDA) or in a fresh child process (CPU, for its own peak RSS)."""
    if args.device == "cuda":
        model = build_variant(variant, precision, ours, config, args.device)
        return measure(variant, precision, batch, model, config, args)
    weights = tmp / "weights.safetensors"
    out = tmp / f"{variant}_{precision}_{batch}.pt"
    cmd = [sys.executable, __file__, "--child", variant, precision, str(batch), str(weights), str(out),
           "--preset", args.preset, "--device", "cpu", "--threads", str(args.threads),
           "--warmup", str(args.warmup), "--repeats", str(args.repeats), "--clock", args.clock]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "child failed")
    return json.loads(proc.stdout.strip().splitlines()[-1]), torch.load(out, weights_only=True)


def fidelity_rows(ours: nn.Module, config: SegGPTConfig, device: str) -> list[dict[str, Any]]:
    """Ours fp32 on `device` in the default and the fidelity mode, each against a CPU fp32 reference (batch 1)."""
    with torch.inference_mode():
        reference = forward_fn("ours", copy.deepcopy(ours).cpu(), config, 1, "cpu")()
        model = ours.to(device)
        forward = forward_fn("ours", model, config, 1, device)
        default = forward().float().cpu()
        with fidelity():
            exact = forward().float().cpu()
    return [
        {"variant": "ours", "dtype": "fp32", "batch": 1, "mode": mode,
         "max_abs_diff_vs_cpu_fp32": float((out - reference).abs().max())}
        for mode, out in (("default", default), ("fidelity", exact))
    ]  # fmt: skip


def plan(args: argparse.Namespace) -> list[tuple[str, str, int]]:
    """(variant, precision, batch) in run order: eager pairs per batch and dtype, then the compiled ones."""
    runs = []
    for batch in args.batch:
        for precision in args.dtypes:
            runs.append(("ours", precision, batch))
            if precision in REFERENCE_DTYPES and not args.no_reference:
                runs.append(("transformers", precision, batch))
    runs += [("ours-compiled", p, int(b)) for p, b in (c.split(":") for c in args.compile)]
    return runs


def summarize(rows: list[dict[str, Any]], outputs: dict[tuple, Tensor]) -> None:
    """Add ratios (transformers same dtype / ours; transformers fp32 / ours) and max abs diffs in place."""
    by_key = {(r["variant"], r["dtype"], r["batch"]): r for r in rows if "ms" in r}
    for (variant, precision, batch), row in by_key.items():
        if variant == "transformers":
            continue
        for ref_dtype, suffix in ((precision, ""), ("fp32", "_vs_fp32")):
            ref = by_key.get(("transformers", ref_dtype, batch))
            if ref is None or (suffix and precision == "fp32"):
                continue
            row["speedup" + suffix] = ref["ms"] / row["ms"]
            row["peak_ratio" + suffix] = row["peak_mib"] / ref["peak_mib"]
            diff = outputs[(variant, precision, batch)] - outputs[("transformers", ref_dtype, batch)]
            row["max_abs_diff" + suffix] = float(diff.abs().max())


def table(rows: list[dict[str, Any]]) -> str:
    """A compact text table of the rows."""
    lines = [f"{'run':<30}{'ms':>10}{'peak MiB':>10}{'speed-up':>10}{'vs fp32':>9}{'max|diff|':>11}"]
    for r in rows:
        name = f"{r['variant']} {r['dtype']} b{r['batch']}" + (f" {r['mode']}" if "mode" in r else "")
        if "error" in r:
            lines.append(f"{name:<30}  failed: {r['error'][:80]}")
        elif "mode" in r:
            lines.append(f"{name:<30}{'':>39}{r['max_abs_diff_vs_cpu_fp32']:>11.2e}  (vs CPU fp32)")
        else:
            cells = [f"{r['ms']:>10.1f}", f"{r['peak_mib']:>10.0f}"]
            cells += [f"{r[k]:>9.2f}x" if k in r else f"{'':>10}" for k in ("speedup",)]
            cells += [f"{r['speedup_vs_fp32']:>8.2f}x" if "speedup_vs_fp32" in r else f"{'':>9}"]
            diff = r.get("max_abs_diff", r.get("max_abs_diff_vs_fp32"))
            cells += [f"{diff:>11.2e}" if diff is not None else ""]
            lines.append(f"{name:<30}" + "".join(cells))
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument("--preset", default="seggpt-vit-large", help="architecture (default: the released ViT-L)")
    parser.add_argument("--dtypes", type=lambda s: s.split(","), default=["fp32", "int8"], help="e.g. fp32,bf16,int8")
    parser.add_argument("--batch", type=lambda s: [int(b) for b in s.split(",")], default=[1], help="e.g. 1,8")
    parser.add_argument("--warmup", type=int, default=1, help="untimed forwards first (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed forwards; the median is reported")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads")
    parser.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall time, or this process's CPU time (with --threads 1: robust on a machine shared with other work)",
    )
    parser.add_argument("--compile", nargs="*", default=[], metavar="DTYPE:BATCH", help="also time ours compiled")
    parser.add_argument("--fidelity", action="store_true", help="fp32 on the device vs a CPU fp32 reference")
    parser.add_argument("--no-reference", action="store_true", help="skip transformers")
    parser.add_argument("--budget", type=float, default=0.0, help="skip measurements after this many seconds")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--show", type=Path, metavar="JSON", help="only print the table of an earlier --json")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    config = get_preset(args.preset)
    if args.show:
        print(table(json.loads(args.show.read_text())["rows"]))
        return 0
    if args.child:
        variant, precision, batch, weights, out = args.child
        model = build_variant(variant, precision, load_model(weights), config, args.device)
        row, output = measure(variant, precision, int(batch), model, config, args)
        torch.save(output, out)
        print(json.dumps(row))
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_model: --device cuda but no CUDA GPU is available")
    for precision in args.dtypes:
        resolve_dtype(precision, args.device)  # fp16 off a GPU, int8 off the CPU: refuse up front
    start = time.perf_counter()
    fidelity_done = False
    rows: list[dict[str, Any]] = []
    outputs: dict[tuple, Tensor] = {}
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        ours = build_seggpt(config, device=args.device).eval()  # random init on the device (fast on a GPU)
        if args.device == "cpu":
            save_model(ours, Path(tmp) / "weights.safetensors")  # for the child processes
        for variant, precision, batch in plan(args):
            left = args.budget - (time.perf_counter() - start) if args.budget else float("inf")
            if left < (COMPILE_RESERVE_S if variant == "ours-compiled" else 0):
                rows.append({"variant": variant, "dtype": precision, "batch": batch, "error": "skipped: budget"})
                continue
            if variant == "ours-compiled" and args.fidelity and not fidelity_done:  # before the slow compilation
                rows += run_fidelity(ours, config, args)
                fidelity_done = True
                write_report(rows, args, start)
            try:
                row, outputs[(variant, precision, batch)] = run_measurement(
                    variant, precision, batch, ours, config, args, Path(tmp)
                )
            except Exception as err:  # one failure (e.g. out of memory) must not lose the other measurements
                traceback.print_exc(file=sys.stderr)
                row = {"variant": variant, "dtype": precision, "batch": batch, "error": f"{type(err).__name__}: {err}"}
            if args.device == "cuda":
                torch.cuda.empty_cache()
            rows.append(row)
            print(table([row]).splitlines()[-1], flush=True)
            summarize(rows, outputs)
            write_report(rows, args, start)  # after every row: a wall-clock kill keeps what was measured
        if args.fidelity and not fidelity_done:
            rows += run_fidelity(ours, config, args)
    report = write_report(rows, args, start)
    print(f"\n{args.preset} on {report['device']}, one prompt, {args.threads} threads, median {args.clock} time of "
          f"{args.repeats} after {args.warmup} warm-up")  # fmt: skip
    print(table(rows))
    return 0


def run_fidelity(ours: nn.Module, config: SegGPTConfig, args: argparse.Namespace) -> list[dict[str, Any]]:
    """`fidelity_rows`, or one error row."""
    try:
        return fidelity_rows(ours, config, args.device)
    except Exception as err:
        traceback.print_exc(file=sys.stderr)
        return [{"variant": "ours", "dtype": "fp32", "batch": 1, "mode": "fidelity", "error": repr(err)}]


def write_report(rows: list[dict[str, Any]], args: argparse.Namespace, start: float) -> dict[str, Any]:
    """The run's report (device, settings, rows); written to --json (replaced atomically) if given."""
    report = {"device": describe_device(args), "preset": args.preset, "threads": args.threads,
              "warmup": args.warmup, "repeats": args.repeats, "clock": args.clock,
              "wall_s": time.perf_counter() - start, "torch": torch.__version__,
              "transformers": transformers_version(), "rows": rows}  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.json.with_name(args.json.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2) + "\n")
        tmp.replace(args.json)
    return report


def transformers_version() -> str | None:
    try:
        import transformers
    except ImportError:
        return None
    return str(transformers.__version__)


def describe_device(args: argparse.Namespace) -> str:
    if args.device == "cuda":
        return torch.cuda.get_device_name()
    bf16 = [f for f in ("avx512_bf16", "amx_bf16") if f in cpu_flags()]
    cpu = platform.processor() or platform.machine()
    return f"cpu {cpu} {torch.backends.cpu.get_cpu_capability()} {'+'.join(bf16) or 'no native bf16'}"


if __name__ == "__main__":
    sys.exit(main())
