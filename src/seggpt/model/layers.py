"""Building blocks of the SegGPT encoder and decoder: the absolute position table, patch embedding, attention,
MLP, block, LayerNorm2d (the relative-position bias attention carries is in `rel_pos.py`).

Parameter names equal the official checkpoint's (`attn.qkv`, `attn.rel_pos_h`, `mlp.fc1`, ...), so the
released `.pth` loads strictly with no renaming.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seggpt.model.rel_pos import biased_attention, fold_rel_pos


def resize_abs_pos(pos_embed: Tensor, has_cls_token: bool, grid_size: tuple[int, int]) -> Tensor:
    """Resize a square absolute position table to a canvas grid.

    Args:
        pos_embed: (1, [1 +] S*S, C) table trained on an S x S grid (a leading cls slot when `has_cls_token`).
        has_cls_token: drop the leading slot first.
        grid_size: (h, w) target grid.

    Returns:
        (1, h, w, C) table; bicubic, `align_corners=False`, as the official `get_abs_pos`, computed in float32 as
        two products with `bicubic_matrix`'s weights (bicubic resizing is separable): the same values to
        rounding, and on a GPU about 100x faster than `F.interpolate`'s bicubic kernel, which took 4.75 ms of a
        ViT-L forward on an H200 (`benchmarks/profile_model.py`).
    """
    if has_cls_token:
        pos_embed = pos_embed[:, 1:]
    S = round(pos_embed.shape[1] ** 0.5)
    if pos_embed.shape[1] != S * S:
        raise ValueError(f"position table of {pos_embed.shape[1]} slots is not a square grid")
    table = pos_embed.reshape(1, S, S, -1)
    if tuple(grid_size) == (S, S):
        return table
    rows, cols = (bicubic_matrix(S, n, pos_embed.device) for n in grid_size)
    with torch.autocast(pos_embed.device.type, enabled=False):
        resized = torch.einsum("hs,stc,wt->hwc", rows, table[0].float(), cols)
    return resized.unsqueeze(0).to(pos_embed.dtype)


def bicubic_matrix(size: int, new_size: int, device: torch.device) -> Tensor:
    """(new_size, size) float32 weights W with W @ x = `F.interpolate(x, new_size, mode="bicubic",
    align_corners=False)` along one axis: F.interpolate's own weights, read off the identity (the other axis
    kept at length 1, where bicubic weights are exactly (0, 1, 0, 0))."""
    eye = torch.eye(size, device=device).reshape(1, size, size, 1)  # channel k holds the unit vector e_k
    return F.interpolate(eye, size=(new_size, 1), mode="bicubic", align_corners=False)[0, :, :, 0].t()


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens, channels last: (B, 3, H, W) -> (B, H/p, W/p, C).

    The weights are a stride-p convolution's (`proj`, the official key names); the forward is the same product
    as one matrix product over flattened patches, which a GPU runs as one GEMM (cuDNN chose a slow implicit-GEMM
    kernel for the bf16 convolution: 2.1 ms of a batch-8 ViT-L forward on an H200, `profile_model.py`).
    """

    def __init__(self, in_chans: int, embed_dim: int, patch_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tensor:
        B, C, H, W = x.shape
        p = self.patch_size
        h, w = H // p, W // p  # a remainder is dropped, as by the strided convolution
        patches = x[:, :, : h * p, : w * p].reshape(B, C, h, p, w, p).permute(0, 2, 4, 1, 3, 5).reshape(B, h, w, -1)
        return F.linear(patches, self.proj.weight.flatten(1), self.proj.bias)


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
