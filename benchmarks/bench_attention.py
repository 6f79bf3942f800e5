"""The CPU's relative-position attention as shipped against an earlier way: the bias folded into q/k/v, or the
bias as SDPA's mask built into a fresh tensor per chunk of heads.

`Attention.attend` on a CPU builds the decomposed relative-position bias and hands it to SDPA as its additive
mask (`rel_pos.biased_attention`), so the products stay hd wide. Before, the CPU ran the layout the GPU still
uses (`rel_pos.fold_rel_pos`: q' = [q * s, q·Rh, q·Rw], k' = [k, onehot(row), onehot(col)]) with v padded to
the same width, which the CPU's fused kernel needs: products hd + h + w wide (148 for ViT-L, 106 for the
default model). Later each chunk of heads got its bias in a fresh tensor, which page-faults at 32 MiB; now
the chunks of a layer share one buffer (`--against fresh-bias`). This script runs the whole model both ways in
one process, in alternation (so a machine whose speed drifts affects both alike), and reports the median of
each and the largest difference of the outputs.

    python benchmarks/bench_attention.py --threads 2                                  # the embedded default model
    python benchmarks/bench_attention.py --preset seggpt-vit-large --threads 2 --repeats 4   # random ViT-L weights
    python benchmarks/bench_attention.py --preset seggpt-vit-large --threads 2 --repeats 4 --against fresh-bias \
        --dtype int8
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from alternate import add_arguments, alternate, query_input, save, setup  # benchmarks/alternate.py
from torch import Tensor

from seggpt.inference.precision import prepare_model
from seggpt.model import layers, rel_pos
from seggpt.model.layers import Attention
from seggpt.model.rel_pos import fold_rel_pos, pairwise_bias, rel_pos_terms


def folded_attend(self: Attention, q: Tensor, k: Tensor, v: Tensor, grid_size: tuple[int, int]) -> Tensor:
    """The previous CPU path: the bias folded into q'/k', v zero-padded to their width, one fused SDPA call."""
    hd = q.shape[-1]
    q, k = fold_rel_pos(q, k, self.rel_pos_h, self.rel_pos_w, grid_size, multiple=1)
    v = F.pad(v, (0, q.shape[-1] - hd))
    return F.scaled_dot_product_attention(q, k, v, scale=1.0)[..., :hd]


def fresh_bias_attention(
    q: Tensor, k: Tensor, v: Tensor, rel_pos_h: Tensor, rel_pos_w: Tensor, grid_size: tuple[int, int]
) -> Tensor:
    """The mask path before the shared buffer: each chunk of heads builds its bias in a new tensor."""
    B, nh, Nq, hd = q.shape
    rel_h, rel_w = rel_pos_terms(q, rel_pos_h, rel_pos_w, grid_size)
    step = max(1, rel_pos.BIAS_ELEMENTS // (Nq * k.shape[2]))
    q, k, v, rel_h, rel_w = (t.flatten(0, 1).unsqueeze(1) for t in (q, k, v, rel_h, rel_w))
    outs = []
    for i in range(0, B * nh, step):
        c = slice(i, i + step)
        outs.append(F.scaled_dot_product_attention(q[c], k[c], v[c], attn_mask=pairwise_bias(rel_h[c], rel_w[c])))
    return torch.cat(outs).view(B, nh, Nq, hd)


@contextlib.contextmanager
def attention(kind: str) -> Iterator[None]:
    """Run every `Attention` of the process the `kind` way ("mask": as shipped, "folded" or "fresh-bias")."""
    shipped, shipped_biased = Attention.attend, layers.biased_attention  # the name Attention.attend calls
    if kind == "folded":
        Attention.attend = folded_attend  # type: ignore[method-assign]
    elif kind == "fresh-bias":
        layers.biased_attention = fresh_bias_attention
    try:
        yield
    finally:
        Attention.attend, layers.biased_attention = shipped, shipped_biased  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--against", choices=["folded", "fresh-bias"], default="folded", help="the earlier way")
    parser.add_argument("--dtype", choices=["fp32", "int8"], default="fp32", help="the runner's precision (fp32)")
    args = parser.parse_args(argv)
    model, row = setup(args)
    runner = prepare_model(model, args.dtype, torch.device("cpu"))
    image, target, kwargs = query_input(model, args.prompts)

    def run(kind: str) -> Callable[[], Tensor]:
        def forward() -> Tensor:
            with attention(kind):
                return runner(image, target, **kwargs)

        return forward

    row.update({"against": args.against, "dtype": args.dtype})
    row.update(alternate({"mask": run("mask"), args.against: run(args.against)}, args.repeats))
    print(f"  as shipped {row['mask_ms']:.1f} ms, {args.against} {row[args.against + '_ms']:.1f} ms: "
          f"{row['speedup']:.2f}x; max |diff| {row['max_abs_diff']:.2e}")  # fmt: skip
    save(row, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
