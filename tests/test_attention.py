"""Both relative-position attention paths (the CPU's bias as an SDPA mask, the GPU's bias folded into q/k)
equal the official formula, written out here token by token."""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from seggpt.model import rel_pos
from seggpt.model.layers import Attention
from seggpt.model.rel_pos import biased_attention, decomposed_rel_pos_bias, fold_rel_pos


def official_bias(q: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
    """bias[b, n, i, j] = q_i·rel_h[row_i - row_j + h - 1] + q_i·rel_w[col_i - col_j + w - 1], the queries
    being the last q.shape[2] tokens of the (h, w) grid (same-size tables: no resizing)."""
    h, w = grid
    first = h * w - q.shape[2]
    bias = torch.empty(*q.shape[:3], h * w)
    for i in range(q.shape[2]):
        row, col = divmod(first + i, w)
        for j in range(h * w):
            m, n = divmod(j, w)
            bias[:, :, i, j] = q[:, :, i] @ (rel_h[row - m + h - 1] + rel_w[col - n + w - 1])
    return bias


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h, rel_w, grid) -> torch.Tensor:
    """The official computation: softmax(scale q k^T + decomposed bias) v."""
    logits = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1) + official_bias(q, rel_h, rel_w, grid)
    return logits.softmax(-1) @ v


@pytest.mark.parametrize("query_tokens", [18, 9])  # the whole grid, its last 3 rows
def test_bias_equals_the_official_formula(query_tokens: int) -> None:
    torch.manual_seed(0)
    grid = (6, 3)
    q = torch.randn(2, 4, query_tokens, 8)
    rel_h, rel_w = torch.randn(11, 8), torch.randn(5, 8)
    torch.testing.assert_close(
        decomposed_rel_pos_bias(q, rel_h, rel_w, grid), official_bias(q, rel_h, rel_w, grid), atol=1e-5, rtol=1e-5
    )


@pytest.mark.parametrize("bias_elements", [1 << 23, 2 * 9 * 18, 3 * 9 * 18, 1])  # all heads, 2, 3 (then 2), 1 at a time
def test_biased_attention_in_chunks_equals_the_official_formula(
    bias_elements: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rel_pos, "BIAS_ELEMENTS", bias_elements)
    torch.manual_seed(0)
    grid = (6, 3)
    q = torch.randn(2, 4, 9, 8)  # the last 3 rows
    k, v = torch.randn(2, 4, 18, 8), torch.randn(2, 4, 18, 8)
    rel_h, rel_w = torch.randn(11, 8), torch.randn(5, 8)
    got = biased_attention(q, k, v, rel_h, rel_w, grid)
    torch.testing.assert_close(got, explicit_attention(q, k, v, rel_h, rel_w, grid), atol=1e-5, rtol=1e-5)


def test_query_rows_equal_the_bottom_of_the_full_attention() -> None:
    torch.manual_seed(0)
    attn = Attention(32, 4, qkv_bias=True, use_rel_pos=True, grid_size=(8, 4))
    torch.nn.init.normal_(attn.rel_pos_h, std=0.5)
    torch.nn.init.normal_(attn.rel_pos_w, std=0.5)
    x = torch.randn(2, 8, 4, 32)
    full = attn(x)
    part = attn(x, query_rows=5)
    assert part.shape == (2, 5, 4, 32)
    torch.testing.assert_close(part, full[:, -5:], atol=1e-6, rtol=1e-5)


def test_rel_pos_tables_are_resized_for_another_grid() -> None:
    torch.manual_seed(0)
    attn = Attention(16, 2, qkv_bias=True, use_rel_pos=True, grid_size=(4, 2))
    out = attn(torch.randn(1, 6, 4, 16))  # a larger grid than the tables were made for
    assert out.shape == (1, 6, 4, 16) and torch.isfinite(out).all()


def test_gpu_layout_pads_q_k_to_a_multiple_of_8_and_keeps_v() -> None:
    """The GPU layout (the bias folded into q/k, rounded up to a multiple of 8, v as it is) gives the same
    attention; run here through the math kernel (the CPU's fused kernel needs equal widths)."""
    torch.manual_seed(0)
    grid = (6, 3)
    q, k, v = (torch.randn(2, 4, 18, 8) for _ in range(3))
    rel_h, rel_w = torch.randn(11, 8), torch.randn(5, 8)
    qf, kf = fold_rel_pos(q, k, rel_h, rel_w, grid, multiple=8)
    assert qf.shape[-1] == kf.shape[-1] == 24  # 8 + 6 + 3 = 17 -> 24
    assert torch.equal(qf[..., 17:], torch.zeros_like(qf[..., 17:]))
    with sdpa_kernel(SDPBackend.MATH):
        got = torch.nn.functional.scaled_dot_product_attention(qf, kf, v, scale=1.0)
    torch.testing.assert_close(got, explicit_attention(q, k, v, rel_h, rel_w, grid), atol=1e-5, rtol=1e-5)
    qf, kf = fold_rel_pos(q[:, :, 9:], k, rel_h, rel_w, grid, multiple=1)  # the last 3 rows, unpadded (17)
    assert qf.shape[-1] == 17
    with sdpa_kernel(SDPBackend.MATH):
        got = torch.nn.functional.scaled_dot_product_attention(qf, kf, v, scale=1.0)
    expected = explicit_attention(q[:, :, 9:], k, v, rel_h, rel_w, grid)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_chunked_bias_keeps_gradients_for_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """With autograd the chunks' bias is built afresh (no shared buffer): the gradients are the formula's."""
    monkeypatch.setattr(rel_pos, "BIAS_ELEMENTS", 3 * 9 * 18)  # chunks of 3, 3 and 2 heads
    torch.manual_seed(0)
    grid = (6, 3)
    tensors = [torch.randn(2, 4, 9, 8), torch.randn(2, 4, 18, 8), torch.randn(2, 4, 18, 8)]
    tables = [torch.randn(11, 8), torch.randn(5, 8)]
    grads = []
    for attention in (biased_attention, explicit_attention):
        inputs = [t.clone().requires_grad_(True) for t in (*tensors, *tables)]
        attention(*inputs, grid).square().sum().backward()
        grads.append([t.grad for t in inputs])
    for got, expected in zip(*grads, strict=True):
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
