"""The relative-position bias folded into SDPA equals the explicit official formula."""

import torch

from seggpt.model.layers import Attention, decomposed_rel_pos_bias, fold_rel_pos


def explicit_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h, rel_w, grid) -> torch.Tensor:
    """The official computation: softmax(scale q k^T + decomposed bias) v."""
    logits = (q * q.shape[-1] ** -0.5) @ k.transpose(-2, -1) + decomposed_rel_pos_bias(q, rel_h, rel_w, grid)
    return logits.softmax(-1) @ v


def test_folded_rel_pos_equals_explicit_bias() -> None:
    torch.manual_seed(0)
    grid = (6, 3)
    q, k, v = (torch.randn(2, 4, 18, 8) for _ in range(3))
    rel_h, rel_w = torch.randn(11, 8), torch.randn(5, 8)
    expected = explicit_attention(q, k, v, rel_h, rel_w, grid)
    qf, kf, vf = fold_rel_pos(q, k, v, rel_h, rel_w, grid)
    got = torch.nn.functional.scaled_dot_product_attention(qf, kf, vf, scale=1.0)[..., :8]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


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
    """The GPU layout (q/k rounded up to a multiple of 8, v unpadded) gives the same attention."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    torch.manual_seed(0)
    grid = (6, 3)
    q, k, v = (torch.randn(2, 4, 18, 8) for _ in range(3))
    rel_h, rel_w = torch.randn(11, 8), torch.randn(5, 8)
    qf, kf, vf = fold_rel_pos(q, k, v, rel_h, rel_w, grid, multiple=8, pad_v=False)
    assert qf.shape[-1] == kf.shape[-1] == 24 and vf.shape[-1] == 8  # 8 + 6 + 3 = 17 -> 24
    assert torch.equal(qf[..., 17:], torch.zeros_like(qf[..., 17:])) and torch.equal(vf, v)
    with sdpa_kernel(SDPBackend.MATH):  # the CPU's fused kernel needs equal widths; the math kernel does not
        got = torch.nn.functional.scaled_dot_product_attention(qf, kf, vf, scale=1.0)
    torch.testing.assert_close(got, explicit_attention(q, k, v, rel_h, rel_w, grid), atol=1e-5, rtol=1e-5)
