"""The decomposed relative-position bias of SegGPT's attention (MViTv2 / ViTDet, as the official code) and the
two ways attention carries it: as SDPA's additive mask (`biased_attention`, the CPU's) or folded into the dot
product (`fold_rel_pos`, the GPU's). Tables resize as the official `get_rel_pos`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

BIAS_ELEMENTS = 1 << 23  # floats of relative-position bias built at once on the CPU (32 MiB in fp32)


def resize_rel_pos(rel_pos: Tensor, length: int) -> Tensor:
    """Linearly resize a (L, C) relative-position table to (length, C), as the official `get_rel_pos`."""
    if rel_pos.shape[0] == length:
        return rel_pos
    resized = F.interpolate(rel_pos.t().unsqueeze(0), size=length, mode="linear")
    return resized.squeeze(0).t()


def relative_position_table(size: int, rel_pos: Tensor) -> Tensor:
    """(size, size, C) embeddings R[i, j] = rel_pos[i - j + size - 1] for query row i and key row j."""
    table = resize_rel_pos(rel_pos, 2 * size - 1)
    coords = torch.arange(size, device=rel_pos.device)
    return table[coords[:, None] - coords[None, :] + size - 1]


def rel_pos_terms(q: Tensor, rel_pos_h: Tensor, rel_pos_w: Tensor, grid_size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """The two decomposed relative-position terms (MViTv2 / ViTDet) of each query.

    Args:
        q: (B, nh, Nq, hd) unscaled queries: the last Nq tokens (whole rows) of the grid.
        rel_pos_h: (2h-1, hd) table over rows; rel_pos_w: (2w-1, hd) over columns.
        grid_size: (h, w) of the keys' token grid.

    Returns:
        rel_h: (B, nh, Nq, h), q·Rh[i, m] for key row m; rel_w: (B, nh, Nq, w), q·Rw[j, n] for key column n.
    """
    h, w = grid_size
    B, nh, Nq, hd = q.shape
    rows = Nq // w
    r_q = q.reshape(B, nh, rows, w, hd)
    Rh = relative_position_table(h, rel_pos_h)[h - rows :].to(q.dtype)  # (rows, h, hd) for the query rows
    Rw = relative_position_table(w, rel_pos_w).to(q.dtype)  # (w, w, hd)
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, Rh).reshape(B, nh, Nq, h)
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, Rw).reshape(B, nh, Nq, w)
    return rel_h, rel_w


def pairwise_bias(rel_h: Tensor, rel_w: Tensor, out: Tensor | None = None) -> Tensor:
    """(..., Nq, h) and (..., Nq, w) terms -> the (..., Nq, h*w) additive bias rel_h[m] + rel_w[n] of key (m, n).

    `out`: a contiguous (..., Nq, h, w) buffer to write the sum into (no autograd through it).
    """
    # contiguous terms make the sum contiguous (einsum's permuted outputs made the final reshape copy it)
    rel_h, rel_w = rel_h.contiguous()[..., :, None], rel_w.contiguous()[..., None, :]
    total = rel_h + rel_w if out is None else torch.add(rel_h, rel_w, out=out)
    return total.flatten(-2)


def decomposed_rel_pos_bias(q: Tensor, rel_pos_h: Tensor, rel_pos_w: Tensor, grid_size: tuple[int, int]) -> Tensor:
    """The decomposed relative-position terms as an additive attention bias, as the official code adds it.

    Args: as `rel_pos_terms`.

    Returns:
        (B, nh, Nq, h*w) bias: bias[q=(i, j), k=(m, n)] = q·Rh[i, m] + q·Rw[j, n].
    """
    return pairwise_bias(*rel_pos_terms(q, rel_pos_h, rel_pos_w, grid_size))


def biased_attention(
    q: Tensor, k: Tensor, v: Tensor, rel_pos_h: Tensor, rel_pos_w: Tensor, grid_size: tuple[int, int]
) -> Tensor:
    """SDPA with the decomposed relative-position bias as its additive mask: the official arithmetic.

    The (Nq, h*w) bias is built for a few heads at a time (at most `BIAS_ELEMENTS` floats at once), so a
    large batch or a 9-prompt ensemble of ViT-L does not hold every head's bias together; without autograd
    every chunk is written into one buffer (fresh 32 MiB allocations cost page faults: the bias additions of a
    ViT-L forward took 0.5-1.35 s that way, 0.45 s into the buffer).

    Args:
        q: (B, nh, Nq, hd) queries, the last Nq tokens of the grid; k, v: (B, nh, h*w, hd).
        rel_pos_h, rel_pos_w, grid_size: as `rel_pos_terms`.

    Returns:
        (B, nh, Nq, hd).
    """
    B, nh, Nq, hd = q.shape
    rel_h, rel_w = rel_pos_terms(q, rel_pos_h, rel_pos_w, grid_size)
    step = max(1, BIAS_ELEMENTS // (Nq * k.shape[2]))
    if step >= B * nh:  # one call
        return F.scaled_dot_product_attention(q, k, v, attn_mask=pairwise_bias(rel_h, rel_w))
    # heads of every canvas as one batch, cut into chunks of `step`
    q, k, v, rel_h, rel_w = (t.flatten(0, 1).unsqueeze(1) for t in (q, k, v, rel_h, rel_w))
    grad = torch.is_grad_enabled() and rel_h.requires_grad
    buffer = None if grad else q.new_empty(step, 1, Nq, *grid_size)
    outs = []
    for i in range(0, B * nh, step):
        n = min(step, B * nh - i)
        bias = pairwise_bias(rel_h[i : i + n], rel_w[i : i + n], None if buffer is None else buffer[:n])
        outs.append(F.scaled_dot_product_attention(q[i : i + n], k[i : i + n], v[i : i + n], attn_mask=bias))
    return torch.cat(outs).view(B, nh, Nq, hd)


def fold_rel_pos(
    q: Tensor, k: Tensor, rel_pos_h: Tensor, rel_pos_w: Tensor, grid_size: tuple[int, int], multiple: int = 8
) -> tuple[Tensor, Tensor]:
    """Fold the scale and the decomposed relative-position bias into the dot product of SDPA (the GPU path).

    With q' = [q * hd**-0.5, q·Rh, q·Rw] and k' = [k, onehot(row), onehot(col)], q'·k' equals the official
    logits `scale * q·k + q·Rh[i, m] + q·Rw[j, n]` (the additive bias of `decomposed_rel_pos_bias`), so SDPA
    with scale 1 and the values as they are computes the same attention without materialising the (N, N)
    bias. Zero columns appended to both q' and k' change no logit: they round the width up to `multiple`
    (the GPU's fused kernels need a multiple of 8).

    Args:
        q: (B, nh, Nq, hd) queries, the last Nq tokens of the grid; k: (B, nh, h*w, hd).
        rel_pos_h: (2h-1, hd) table over rows; rel_pos_w: (2w-1, hd) over columns.
        grid_size: (h, w) of the keys' token grid.
        multiple: round the q'/k' head dim up to a multiple of this.

    Returns:
        q', k' of head dim hd + h + w rounded up to `multiple`.
    """
    h, w = grid_size
    B, nh, Nq, hd = q.shape
    rel_h, rel_w = rel_pos_terms(q, rel_pos_h, rel_pos_w, grid_size)
    extra = -(hd + h + w) % multiple  # zero columns up to the multiple
    zeros = q.new_zeros(B, nh, Nq, extra)
    q = torch.cat([q * hd**-0.5, rel_h, rel_w, zeros], dim=-1)  # one copy (a pad after the cat was a second)
    eye_h = torch.eye(h, dtype=k.dtype, device=k.device).repeat_interleave(w, dim=0)  # (h*w, h) row one-hot
    eye_w = torch.eye(w, dtype=k.dtype, device=k.device).repeat(h, 1)  # (h*w, w) column one-hot
    onehot = torch.cat([eye_h, eye_w, eye_h.new_zeros(h * w, extra)], dim=-1).expand(B, nh, -1, -1)
    return q, torch.cat([k, onehot], dim=-1)
