"""The feature ensemble with each group's shared query computed once.

The feature ensemble (paper section 3.2) runs one canvas per prompt, all with the same query below, and
averages the query half of every block's attention output within the group. The query halves of a group's
canvases then stay equal at every block (equal inputs, the same averaged update), so most of the work done
token by token (norms, qkv, MLP: 11 of a block's 12 weight-matrix passes) is needed once per group, not once
per canvas: with P prompts it falls from 2P to P + 1 half canvases (video's default of the first frame and 8
memory frames: 18 -> 10). Attention still runs per canvas, as it must (each canvas attends over its own
prompt), and so does its output projection, followed by the group mean as in the official code: the
arithmetic is the same as `SegGPT.encode`'s, up to the rounding of matrix products of other sizes (the default
model's outputs are bit-identical, `benchmarks/bench_ensemble.py`, and int8's dynamic quantisation sees the
same activations). Evaluation only: stochastic depth in training is per canvas.

A canvas is kept as two halves: `prompts` (M, h/2, w, C), the top half of each canvas, and `queries`
(G, h/2, w, C), the bottom half of each group, with `query_of` (M,) the group of each canvas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import torch
from torch import Tensor

from seggpt.model.layers import Block, group_means

if TYPE_CHECKING:
    from seggpt.model.seggpt import SegGPT


@dataclass
class Halves:
    """Canvases kept as halves, as one (T, C) token tensor: the prompt rows of M canvases, then G queries.

    Attributes:
        x: (M * rows * w + G * h2 * w, C) tokens: each canvas's last `rows` prompt rows, then each group's query.
        num_canvases: M.
        rows: prompt rows kept per canvas (h2, or 1 after the last block: the decoder's halo).
        grid: (h2, w), the half-canvas grid.
    """

    x: Tensor
    num_canvases: int
    rows: int
    grid: tuple[int, int]

    @property
    def prompts(self) -> Tensor:
        """(M, rows, w, C) view."""
        w = self.grid[1]
        return self.x[: self.num_canvases * self.rows * w].view(self.num_canvases, self.rows, w, -1)

    @property
    def queries(self) -> Tensor:
        """(G, h2, w, C) view."""
        h2, w = self.grid
        return self.x[self.num_canvases * self.rows * w :].view(-1, h2, w, self.x.shape[-1])


def shared_block(block: Block, state: Halves, query_of: Tensor, last: bool = False) -> Halves:
    """One encoder block (eval mode) on canvases kept as halves; equals `Block.forward` with ensemble groups.

    Args:
        block: a SegGPT `Block`.
        state: M canvases' prompt halves (all h2 rows) and G groups' queries.
        query_of: (M,) int64 group of each canvas, in [0, G).
        last: compute only what the decoder reads of the last block: the prompts' last row (the halo of its
            3x3 conv) and the queries (`Block.forward`'s `query_rows = h2 + 1`).

    Returns:
        The state after the block, with `rows` 1 when `last`.
    """
    (h2, w), M, C = state.grid, state.num_canvases, state.x.shape[-1]
    attn = block.attn
    qkv = Halves(attn.qkv(block.norm1(state.x)), M, h2, state.grid)
    canvases = torch.cat([qkv.prompts, qkv.queries[query_of]], dim=1)  # (M, 2*h2, w, 3C): query below prompt
    q, k, v = canvases.reshape(M, 2 * h2 * w, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
    keep = 1 if last else h2  # prompt rows to compute
    q = q[:, :, (h2 - keep) * w :]
    out = attn.attend(q, k, v, (2 * h2, w)).transpose(1, 2).reshape(M, keep + h2, w, C)
    G = state.queries.shape[0]
    x = attn.proj(out.reshape(-1, C))  # every canvas's rows, then the group mean of the query rows (official order)
    x = x.view(M, keep + h2, w, C)
    x = torch.cat([x[:, :keep].reshape(-1, C), group_means(x[:, keep:], query_of, G).reshape(-1, C)])
    shortcut = torch.cat([state.prompts[:, -1:].reshape(-1, C), state.queries.reshape(-1, C)]) if last else state.x
    x = x + shortcut
    x = x + block.mlp(block.norm2(x))
    return Halves(x, M, keep, state.grid)


def first_of_groups(groups: Tensor) -> Tensor:
    """(G,) index of the first canvas of each group, for (B,) group ids 0..G-1, each used."""
    num_groups = int(groups.max()) + 1
    order = torch.arange(groups.shape[0], device=groups.device)
    first = torch.full((num_groups,), groups.shape[0], dtype=torch.long, device=groups.device)
    return first.scatter_reduce_(0, groups, order, reduce="amin")


def encode_shared(
    model: SegGPT, tokens: Tensor, groups: Tensor, query_only: bool, decode_index: Tensor | None
) -> list[Tensor]:
    """`SegGPT.encode` for canvases whose groups share one query half, returning the decoded canvases' features.

    Args:
        model: the SegGPT (eval mode).
        tokens: (2B, h, w, C) from `SegGPT.embed`: the image canvases, then the target canvases.
        groups: (B,) int64 group id per canvas, in [0, G); all canvases of a group must have the same query half
            (image and masked target): checked, a ValueError otherwise.
        query_only: the last block computes only the rows the decoder reads.
        decode_index: (B',) canvases whose features to return; None for all B.

    Returns:
        The normed feature-layer outputs of the decoded canvases, each (B', h', w, C) as `encode` returns them
        (h' = h/2 + 1 with `query_only`, else h).
    """
    cfg = model.config
    groups = torch.unique(groups, return_inverse=True)[1]  # ids 0..G-1, each used (an unused id has no query)
    B, h, w, C = groups.shape[0], *tokens.shape[1:]
    h2 = h // 2
    first = first_of_groups(groups)
    G = first.shape[0]
    query_of = torch.cat([groups, groups + G])  # the image stream's groups, then the target stream's
    queries = tokens[torch.cat([first, first + B]), h2:]
    if not torch.equal(tokens[:, h2:], queries[query_of]):
        raise ValueError("shared_query: the canvases of an ensemble group differ in their query half")
    state = Halves(torch.cat([tokens[:, :h2].reshape(-1, C), queries.reshape(-1, C)]), 2 * B, h2, (h2, w))
    features = []
    for idx, block in enumerate(model.blocks):
        last = query_only and idx == cfg.depth - 1 and idx > cfg.merge_layer
        state = shared_block(cast(Block, block), state, query_of, last)
        if idx == cfg.merge_layer:
            prompts, queries = state.prompts, state.queries
            merged = [(prompts[:B] + prompts[B:]) * 0.5, (queries[:G] + queries[G:]) * 0.5]
            state = Halves(torch.cat([t.reshape(-1, C) for t in merged]), B, h2, (h2, w))
            query_of = groups
        if idx in cfg.feature_layers:
            features.append(state)
    index = decode_index if decode_index is not None else torch.arange(B, device=groups.device)
    rows = features[-1].rows  # prompt rows the decoder reads: 1 with query_only, else all
    return [model.norm(torch.cat([f.prompts[index, -rows:], f.queries[groups[index]]], dim=1)) for f in features]
