"""The feature ensemble with its shared query computed once per group, against canvas by canvas.

One process, the same model and inputs: P prompt canvases sharing one query (what `VideoSegmenter` feeds the
model each frame with the first frame and K = P - 1 memory frames, and `Segmenter` with P prompts), timed with
`shared_query` off and on in alternation (so a machine whose speed drifts affects both alike), the median of
each. Also reports the largest difference between the two outputs.

    python benchmarks/bench_ensemble.py                       # embedded default model, P = 2 and 9, fp32
    python benchmarks/bench_ensemble.py --prompts 9 --dtype int8 --repeats 20
    python benchmarks/bench_ensemble.py --model seggpt_vit_large.pth --device cuda --dtype bf16 --prompts 2,9
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from seggpt import load_model
from seggpt.inference.precision import PRECISIONS, autocast, prepare_model, resolve_dtype


def measure(args: argparse.Namespace, prompts: int) -> dict[str, float | int | str]:
    """Median forward time with and without the shared query for `prompts` canvases of one query."""
    device = torch.device(args.device)
    model = load_model(args.model, device=device)
    precision = resolve_dtype(args.dtype, device)
    runner = prepare_model(model, precision, device)
    H, W = model.config.image_size
    generator = torch.Generator().manual_seed(0)
    image = torch.randn(prompts, 3, H, W, generator=generator)
    target = torch.randn(prompts, 3, H, W, generator=generator)
    image[:, :, H // 2 :] = image[:1, :, H // 2 :]  # one query below every prompt
    image, target = image.to(device), target.to(device)
    groups = torch.zeros(prompts, dtype=torch.long, device=device)
    first = torch.zeros(1, dtype=torch.long, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times: dict[bool, list[float]] = {False: [], True: []}
    outputs = {}
    with torch.inference_mode(), autocast(precision, device):
        for shared in (False, True):  # warm-up, and the outputs to compare
            outputs[shared] = runner(
                image, target, ensemble_groups=groups, query_only=True, decode_index=first, shared_query=shared
            ).float()
        for i in range(args.repeats):
            for shared in (False, True) if i % 2 else (True, False):
                sync()
                start = time.perf_counter()
                runner(image, target, ensemble_groups=groups, query_only=True, decode_index=first, shared_query=shared)
                sync()
                times[shared].append(time.perf_counter() - start)
    plain, shared = (1e3 * statistics.median(times[s]) for s in (False, True))
    return {"model": args.model, "device": args.device, "dtype": precision, "prompts": prompts,
            "threads": torch.get_num_threads(), "repeats": args.repeats, "canvas_by_canvas_ms": plain,
            "shared_query_ms": shared, "speedup": plain / shared,
            "max_abs_diff": (outputs[True] - outputs[False]).abs().max().item()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="seggpt-default", help="checkpoint or name (default: seggpt-default)")
    parser.add_argument("--prompts", default="2,9", help="prompt canvases per query, e.g. 2,9 (video K = 1 and 8)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", choices=PRECISIONS)
    parser.add_argument("--repeats", type=int, default=12, help="timed forwards of each kind (default 12)")
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", help="also write the result rows here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = [measure(args, int(p)) for p in args.prompts.split(",")]
    for row in rows:
        print(f"{row['model']} {row['dtype']} on {row['device']} ({row['threads']} threads), {row['prompts']} prompts: "
              f"canvas by canvas {row['canvas_by_canvas_ms']:.1f} ms, shared query {row['shared_query_ms']:.1f} ms "
              f"({row['speedup']:.2f}x), max |diff| {row['max_abs_diff']:.1e}")  # fmt: skip
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
