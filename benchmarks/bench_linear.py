"""The CPU's fp32 Linear layers: oneDNN's matrix product (what `prepare_model` runs) against torch's default BLAS
call (`F.linear`, MKL on x86); with `--int8`, the int8 runner as shipped (the first encoder block in fp32)
against every Linear layer in int8.

For fp32 on a CPU, `seggpt.inference.precision.prepare_model` runs every nn.Linear through oneDNN
(`OneDNNLinear`, the kernel torch's own CPU compiler uses) on the layer's own weights. This script runs the
whole model both ways in one process, in alternation (a machine whose speed drifts affects both alike), and
reports the median of each and the largest difference of the outputs (rounding: the same products, blocked
differently). `--shapes` times the Linear layers alone instead, each shape paired call by call. `--int8` prices
`precision.INT8_FP32_BLOCKS` (the first block kept in fp32 for label agreement, `int8_agreement.py`).

    python benchmarks/bench_linear.py --threads 2                                  # the embedded default model
    python benchmarks/bench_linear.py --threads 2 --prompts 9                      # video, first frame + 8
    python benchmarks/bench_linear.py --preset seggpt-vit-large --threads 2 --repeats 4   # random ViT-L weights
    python benchmarks/bench_linear.py --preset seggpt-vit-large --threads 2 --shapes
    python benchmarks/bench_linear.py --preset seggpt-vit-large --threads 2 --repeats 6 --int8
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from alternate import add_arguments, alternate, query_input, save, setup  # benchmarks/alternate.py
from torch import Tensor, nn

from seggpt.inference.precision import OneDNNLinear, onednn_linear_available, prepare_model, quantize_int8
from seggpt.model import SegGPT


def linear_shapes(model: SegGPT, prompts: int) -> list[tuple[int, int, int]]:
    """(rows, in, out) of the model's distinct Linear products for one query after the stream merge."""
    h, w = model.config.grid_size
    rows = prompts * h * w
    block = model.blocks[0]
    layers: list[nn.Linear] = [block.attn.qkv, block.attn.proj, block.mlp.fc1, block.mlp.fc2]
    shapes = [(rows, layer.in_features, layer.out_features) for layer in layers]
    decoder = model.decoder_embed
    return [*shapes, ((h // 2 + 1) * w, decoder.in_features, decoder.out_features)]


def time_shape(m: int, k: int, n: int, repeats: int) -> dict[str, Any]:
    """GFLOP/s of an (m, k) x (k -> n) product both ways, called in alternation; the paired speed-up's median."""
    layer = nn.Linear(k, n)
    fast = OneDNNLinear.sharing(layer)
    x = torch.randn(m, k)
    result = alternate({"onednn": lambda: fast(x), "blas": lambda: F.linear(x, layer.weight, layer.bias)}, repeats)
    mflop = 2 * m * k * n / 1e6  # GFLOP/s = MFLOP / ms
    row = {"shape": [m, k, n], "onednn_gflops": mflop / result["onednn_ms"], "blas_gflops": mflop / result["blas_ms"],
           "speedup": result["paired_speedup"]}  # fmt: skip
    print(f"  {m}x{k} -> {n}: oneDNN {row['onednn_gflops']:.0f} GFLOP/s, BLAS {row['blas_gflops']:.0f} GFLOP/s, "
          f"paired {row['speedup']:.2f}x")  # fmt: skip
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--shapes", action="store_true", help="time the model's Linear shapes alone")
    parser.add_argument("--int8", action="store_true", help="int8 as shipped against every Linear layer in int8")
    args = parser.parse_args(argv)
    if not onednn_linear_available():
        parser.exit(2, "error: this torch has no oneDNN Linear kernel (torch.ops.mkldnn._linear_pointwise)\n")
    model, row = setup(args)
    if args.shapes:
        row["shapes"] = [time_shape(*shape, args.repeats) for shape in linear_shapes(model, args.prompts)]
    else:
        cpu = torch.device("cpu")
        if args.int8:
            names, runners = ("shipped", "all_int8"), (prepare_model(model, "int8", cpu), quantize_int8(model))
        else:
            names, runners = ("onednn", "blas"), (prepare_model(model, "fp32", cpu), model)
        image, target, kwargs = query_input(model, args.prompts)

        def forward(module: nn.Module) -> Callable[[], Tensor]:
            return lambda: module(image, target, **kwargs)

        row.update(alternate(dict(zip(names, map(forward, runners), strict=True)), args.repeats))
        print(f"  {names[0]} {row[names[0] + '_ms']:.1f} ms, {names[1]} {row[names[1] + '_ms']:.1f} ms: "
              f"{row['speedup']:.2f}x; max |diff| {row['max_abs_diff']:.2e}")  # fmt: skip
    save(row, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
