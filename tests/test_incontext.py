"""The one in-context call: layout of the canvases, shared vs per-query prompts, the masked query target."""

from __future__ import annotations

from collections.abc import Callable

import torch

from seggpt.inference.incontext import paint_queries
from seggpt.model import SegGPT


def _halves(model: SegGPT, n: int, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, *model.config.query_size, generator=gen)


def test_equals_the_direct_model_call(tiny_model: Callable[..., SegGPT]) -> None:
    model = tiny_model()
    prompts, targets, queries = _halves(model, 2, 0), _halves(model, 2, 1), _halves(model, 3, 2)
    with torch.no_grad():
        out = paint_queries(model, prompts, targets, queries, seg_type="semantic", ensemble=True)
        assert out.shape == (3, 2, 3, *model.config.query_size) and out.dtype == torch.float32
        for q in range(3):  # query q alone, its two canvases grouped
            image_canvas = torch.cat([prompts, queries[q : q + 1].expand(2, -1, -1, -1)], dim=2)
            target_canvas = torch.cat([targets, targets], dim=2)
            groups = torch.zeros(2, dtype=torch.long)
            direct = model(image_canvas, target_canvas, seg_type="semantic", ensemble_groups=groups, query_only=True)
            torch.testing.assert_close(out[q], direct, atol=1e-5, rtol=1e-5)


def test_shared_prompts_equal_per_query_prompts_and_the_query_target_is_never_seen(
    tiny_model: Callable[..., SegGPT],
) -> None:
    model = tiny_model(seed=1)
    prompts, targets, queries = _halves(model, 1, 3), _halves(model, 1, 4), _halves(model, 2, 5)
    with torch.no_grad():
        shared = paint_queries(model, prompts, targets, queries)
        per_query = paint_queries(model, prompts.expand(2, 1, -1, -1, -1), targets.expand(2, 1, -1, -1, -1), queries)
        hidden = paint_queries(model, prompts, targets, queries, query_targets=_halves(model, 2, 6))
    torch.testing.assert_close(shared, per_query, atol=0, rtol=0)
    torch.testing.assert_close(shared, hidden, atol=1e-6, rtol=0)


def test_gradients_reach_a_learned_prompt(tiny_model: Callable[..., SegGPT]) -> None:
    model = tiny_model(seed=2).requires_grad_(False)
    prompt = _halves(model, 1, 7).requires_grad_(True)
    out = paint_queries(model, prompt, _halves(model, 1, 8), _halves(model, 2, 9))
    out.square().mean().backward()
    assert prompt.grad is not None and prompt.grad.abs().sum() > 0
