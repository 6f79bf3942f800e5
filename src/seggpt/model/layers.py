"""Building blocks of the SegGPT encoder and decoder: position tables, attention, block, LayerNorm2d.

Parameter names equal the official checkpoint's (`attn.qkv`, `attn.rel_pos_h`, `mlp.fc1`, ...), so the
released `.pth` loads strictly with no renaming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

BIAS_ELEMENTS = 1 << 23  # floats of relative-position bias built at once on the CPU (32 MiB in fp32)


def resize_abs_pos(pos_embed: Tensor, has_cls_token: bool, grid_size: tuple[int, int]) -> Tensor:
    """Resize a square absolute position table to a canvas grid.

    Args:
        pos_embed: (1, [1 +] S*S, C) table trained on an S x S grid (a leading cls slot when `has_cls_token`).
        has_cls_token: drop the leading slot first.
        grid_size: (h, w) target grid.

    Returns:
        (1, h, w, C) table; bicubic, `align_corners=False`, as the official `get_abs_pos`.
    """
    if has_cls_token:
        pos_embed = pos_embed[:, 1:]
    S = round(pos_embed.shape[1] ** 0.5)
    if pos_embed.shape[1] != S * S:
        raise ValueError(f"position table of {pos_embed.shape[1]} slots is not a square grid")
    table = pos_embed.reshape(1, S, S, -1)
    if tuple(grid_size) == (S, S):
        return table
    table = F.interpolate(table.permute(0, 3, 1, 2), size=grid_size, mode="bicubic", align_corners=False)
    return table.permute(0, 2, 3, 1)


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


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens, channels last: (B, 3, H, W) -> (B, H/p, W/p, C)."""

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class Attention(nn.Module):
    """Global multi-head self-attention with decomposed relative position, through SDPA."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, use_rel_pos: bool, grid_size: tuple[int, int]):
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * grid_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * grid_size[1] - 1, head_dim))

    def forward(self, x: Tensor, query_rows: int | None = None) -> Tensor:
        """(B, h, w, C) -> (B, h, w, C); with `query_rows`, only the last that many rows: (B, query_rows, w, C)."""
        B, h, w, C = x.shape
        qkv = self.qkv(x).reshape(B, h * w, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # (B, nh, h*w, hd)
        if query_rows is not None:
            q = q[:, :, (h - query_rows) * w :]
        out = self.attend(q, k, v, (h, w))
        rows = q.shape[2] // w
        return self.proj(out.transpose(1, 2).reshape(B, rows, w, C))

    def attend(self, q: Tensor, k: Tensor, v: Tensor, grid_size: tuple[int, int]) -> Tensor:
        """Attention of (B, nh, Nq, hd) queries (the last Nq tokens of the grid) over (B, nh, h*w, hd) keys and
        values, relative positions included; returns (B, nh, Nq, hd), before the output projection."""
        if not self.use_rel_pos:
            return F.scaled_dot_product_attention(q, k, v)  # scale hd ** -0.5, as the official
        if q.device.type != "cuda":  # the CPU's fused kernel takes the bias as a mask: the fewest products
            return biased_attention(q, k, v, self.rel_pos_h, self.rel_pos_w, grid_size)
        # GPU: the bias folded into q/k (widths rounded up to a multiple of 8, v as it is), which cuDNN and
        # memory-efficient attention run fused (measured on an H200 in issue 16), with no (N, N) tensor.
        q, k = fold_rel_pos(q, k, self.rel_pos_h, self.rel_pos_w, grid_size)
        return F.scaled_dot_product_attention(q, k, v, scale=1.0)


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


class Mlp(nn.Module):
    """fc1 -> GELU -> fc2."""

    def __init__(self, dim: int, hidden_dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


def drop_path(x: Tensor, rate: float, training: bool) -> Tensor:
    """Stochastic depth: zero whole samples with probability `rate`, rescale the rest."""
    if rate == 0.0 or not training:
        return x
    keep = 1.0 - rate
    mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
    return x * mask / keep


def group_means(x: Tensor, groups: Tensor, num_groups: int) -> Tensor:
    """The mean of each group: x (B, ...), groups (B,) ids in [0, num_groups) -> (num_groups, ...)."""
    flat = x.reshape(x.shape[0], -1)
    sums = flat.new_zeros(num_groups, flat.shape[1]).index_add_(0, groups, flat)
    counts = torch.bincount(groups, minlength=num_groups).to(flat.dtype).clamp_min(1)
    return (sums / counts[:, None]).reshape(num_groups, *x.shape[1:])


def group_mean(x: Tensor, groups: Tensor, num_groups: int) -> Tensor:
    """Replace each sample by the mean of its group. x: (B, ...); groups: (B,) ids in [0, num_groups)."""
    return group_means(x, groups, num_groups)[groups]


class Block(nn.Module):
    """Pre-norm ViT block; the feature ensemble averages the query half of the attention output."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop_path_rate: float,
        layer_norm_eps: float,
        use_rel_pos: bool,
        grid_size: tuple[int, int],
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.attn = Attention(dim, num_heads, qkv_bias, use_rel_pos, grid_size)
        self.norm2 = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path_rate = drop_path_rate

    def forward(
        self, x: Tensor, ensemble_groups: Tensor | None = None, num_groups: int = 0, query_rows: int | None = None
    ) -> Tensor:
        """Args:
            x: (B, h, w, C) tokens of B canvases (top h/2 rows prompt, bottom h/2 rows query).
            ensemble_groups: (B,) group id per canvas: the query half of the attention output (after its
                projection, before the residual) is averaged within each group, as the official feature
                ensemble; None for no ensemble.
            num_groups: number of distinct group ids.
            query_rows: compute only the last that many token rows of the output (at least h/2).

        Returns:
            (B, query_rows or h, w, C).
        """
        half = x.shape[1] // 2
        attn = self.attn(self.norm1(x), query_rows=query_rows)
        if ensemble_groups is not None:
            query = group_mean(attn[:, -half:], ensemble_groups, num_groups)
            attn = torch.cat([attn[:, :-half], query], dim=1)
        shortcut = x if query_rows is None else x[:, -query_rows:]
        x = shortcut + drop_path(attn, self.drop_path_rate, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path_rate, self.training)


class LayerNorm2d(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) map."""

    def __init__(self, channels: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], self.weight, self.bias, self.eps).permute(0, 3, 1, 2)
