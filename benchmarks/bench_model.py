"""Forward latency and peak memory of our SegGPT against transformers' SegGptForImageSegmentation.

Both run the same random weights (transformers' ViT-L initialisation, saved with `save_pretrained` and loaded
into ours through the Hugging Face checkpoint path) on the same one-prompt input, each measurement in its own
process so that peak memory is its own. Prints absolute numbers and ratios (reference / ours).

    python benchmarks/bench_model.py                    # released size (ViT-L, 896x448), fp32 and bf16
    python benchmarks/bench_model.py --repeats 3 --threads 2 --json out.json

transformers is a test/benchmark dependency only (`pip install -e .[test]`).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

VARIANTS = ("ours", "transformers")


def peak_rss_reset() -> None:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process."""
    Path("/proc/self/clear_refs").write_text("5")


def rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def make_inputs(size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(1, 3, size, size, generator=g) for _ in range(3))  # type: ignore[return-value]


def run_one(variant: str, dtype: str, weights: Path, repeats: int, threads: int, out: Path) -> dict[str, float]:
    """Build one implementation, time `repeats` forwards after one warm-up, save its query-half output."""
    torch.set_num_threads(threads)
    autocast = dtype == "bfloat16"
    if variant == "ours":
        import seggpt

        model = seggpt.load_model(weights)
        size = model.config.query_size[0]
        prompt, target, query = make_inputs(size)

        def forward() -> torch.Tensor:
            image_canvas = torch.cat([prompt, query], dim=2)
            target_canvas = torch.cat([target, target], dim=2)
            return model(image_canvas, target_canvas, query_only=True)

    else:
        from transformers import SegGptForImageSegmentation

        model = SegGptForImageSegmentation.from_pretrained(weights).eval()
        size = model.config.image_size[1]
        prompt, target, query = make_inputs(size)

        def forward() -> torch.Tensor:
            pred = model(pixel_values=query, prompt_pixel_values=prompt, prompt_masks=target).pred_masks
            return pred[:, :, size:]

    times = []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        forward()  # warm-up
        base = rss_kib("VmRSS")
        peak_rss_reset()
        for _ in range(repeats):
            start = time.perf_counter()
            pred = forward()
            times.append(time.perf_counter() - start)
        peak = rss_kib("VmHWM")
    np.save(out, pred.float().numpy())
    return {"seconds": min(times), "peak_mib": peak / 1024, "forward_extra_mib": (peak - base) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="timed forwards per measurement (min is reported)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--child", nargs=4, metavar=("VARIANT", "DTYPE", "WEIGHTS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        variant, dtype, weights, out = args.child
        print(json.dumps(run_one(variant, dtype, Path(weights), args.repeats, args.threads, Path(out))))
        return

    from transformers import SegGptConfig, SegGptForImageSegmentation

    with tempfile.TemporaryDirectory() as tmp:
        weights = Path(tmp) / "hf"
        torch.manual_seed(0)
        SegGptForImageSegmentation(SegGptConfig()).save_pretrained(weights)  # the released ViT-L architecture
        results: dict[str, dict[str, float]] = {}
        for dtype in args.dtypes:
            for variant in VARIANTS:
                out = Path(tmp) / f"{variant}_{dtype}.npy"
                cmd = [
                    sys.executable,
                    __file__,
                    "--repeats",
                    str(args.repeats),
                    "--threads",
                    str(args.threads),
                    "--child",
                    variant,
                    dtype,
                    str(weights),
                    str(out),
                ]
                line = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
                results[f"{variant}/{dtype}"] = json.loads(line)
            ours, ref = (np.load(Path(tmp) / f"{v}_{dtype}.npy") for v in VARIANTS)
            results[f"ours/{dtype}"]["max_abs_diff_vs_transformers"] = float(np.abs(ours - ref).max())
        fp32_ref = np.load(Path(tmp) / "transformers_float32.npy") if "float32" in args.dtypes else None
        if fp32_ref is not None and "bfloat16" in args.dtypes:
            ours_bf16 = np.load(Path(tmp) / "ours_bfloat16.npy")
            results["ours/bfloat16"]["max_abs_diff_vs_transformers_fp32"] = float(np.abs(ours_bf16 - fp32_ref).max())

    print(f"SegGPT ViT-L, one prompt, 896x448 canvas, {args.threads} threads, min of {args.repeats} runs")
    print(f"{'run':<24}{'seconds':>10}{'peak MiB':>11}{'forward MiB':>13}")
    for name, r in results.items():
        print(f"{name:<24}{r['seconds']:>10.2f}{r['peak_mib']:>11.0f}{r['forward_extra_mib']:>13.0f}")
    for dtype in args.dtypes:
        ours, ref = results[f"ours/{dtype}"], results[f"transformers/{dtype}"]
        print(
            f"{dtype}: speed-up {ref['seconds'] / ours['seconds']:.2f}x, peak memory ratio (ours/ref) "
            f"{ours['peak_mib'] / ref['peak_mib']:.2f}, max |diff| {ours['max_abs_diff_vs_transformers']:.2e}"
        )
    if "float32" in args.dtypes and "bfloat16" in args.dtypes:
        ratio = results["transformers/float32"]["seconds"] / results["ours/bfloat16"]["seconds"]
        diff = results["ours/bfloat16"]["max_abs_diff_vs_transformers_fp32"]
        print(f"ours bf16 vs transformers fp32: {ratio:.2f}x faster, max |diff| {diff:.2e}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
