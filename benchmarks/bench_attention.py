"""The CPU's relative-position attention: the bias as SDPA's mask (ours) against the bias folded into q/k/v.

`Attention.attend` on a CPU builds the decomposed relative-position bias and hands it to SDPA as its additive
mask (`layers.biased_attention`), so the products stay hd wide. Before, the CPU ran the layout the GPU still
uses (`layers.fold_rel_pos`: q' = [q * s, q·Rh, q·Rw], k' = [k, onehot(row), onehot(col)]) with v padded to
the same width, which the CPU's fused kernel needs: products hd + h + w wide (148 for ViT-L, 106 for the
default model). This script runs the whole model both ways in one process, in alternation (so a machine whose
speed drifts affects both alike), and reports the median of each and the largest difference of the outputs.

    python benchmarks/bench_attention.py --threads 2                                  # the embedded default model
    python benchmarks/bench_attention.py --preset seggpt-vit-large --threads 2 --repeats 4   # random ViT-L weights
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Callable, Iterator

import torch.nn.functional as F
from alternate import add_arguments, alternate, query_input, save, setup  # benchmarks/alternate.py
from torch import Tensor

from seggpt.model.layers import Attention, fold_rel_pos


def folded_attend(self: Attention, q: Tensor, k: Tensor, v: Tensor, grid_size: tuple[int, int]) -> Tensor:
    """The previous CPU path: the bias folded into q'/k', v zero-padded to their width, one fused SDPA call."""
    hd = q.shape[-1]
    q, k = fold_rel_pos(q, k, self.rel_pos_h, self.rel_pos_w, grid_size, multiple=1)
    v = F.pad(v, (0, q.shape[-1] - hd))
    return F.scaled_dot_product_attention(q, k, v, scale=1.0)[..., :hd]


@contextlib.contextmanager
def attention(kind: str) -> Iterator[None]:
    """Run every `Attention` of the process the `kind` way ("mask": as shipped, "folded": the previous path)."""
    shipped = Attention.attend
    if kind == "folded":
        Attention.attend = folded_attend  # type: ignore[method-assign]
    try:
        yield
    finally:
        Attention.attend = shipped  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    args = parser.parse_args(argv)
    model, row = setup(args)
    image, target, kwargs = query_input(model, args.prompts)

    def run(kind: str) -> Callable[[], Tensor]:
        def forward() -> Tensor:
            with attention(kind):
                return model(image, target, **kwargs)

        return forward

    row.update(alternate({"mask": run("mask"), "folded": run("folded")}, args.repeats))
    print(f"  bias as SDPA mask {row['mask_ms']:.1f} ms, folded {row['folded_ms']:.1f} ms: {row['speedup']:.2f}x; "
          f"max |diff| {row['max_abs_diff']:.2e}")  # fmt: skip
    save(row, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
