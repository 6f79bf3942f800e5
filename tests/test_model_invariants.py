"""Invariants of the model on the tiny `seggpt-test` preset (64x32 canvas): ensembles, batching, checkpointing."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import random_canvases
from seggpt.model import SegGPT, build_seggpt, get_preset
from seggpt.model.layers import PatchEmbed, resize_abs_pos

ATOL = 1e-5
ModelFactory = Callable[..., SegGPT]


def run(model: SegGPT, image_canvas: torch.Tensor, target_canvas: torch.Tensor, **kwargs: object) -> torch.Tensor:
    with torch.no_grad():
        return model(image_canvas, target_canvas, **kwargs)  # type: ignore[arg-type]


def test_one_prompt_ensemble_equals_no_ensemble(tiny_model: ModelFactory) -> None:
    model = tiny_model()
    image_canvas, target_canvas = random_canvases(model.config, 1)
    single = run(model, image_canvas, target_canvas)
    ensemble = run(model, image_canvas, target_canvas, ensemble_groups=torch.zeros(1, dtype=torch.long))
    torch.testing.assert_close(ensemble, single, atol=ATOL, rtol=0)


def test_ensemble_of_identical_prompts_equals_one_prompt(tiny_model: ModelFactory) -> None:
    model = tiny_model()
    image_canvas, target_canvas = random_canvases(model.config, 1)
    single = run(model, image_canvas, target_canvas)
    repeated = run(
        model,
        image_canvas.repeat(3, 1, 1, 1),
        target_canvas.repeat(3, 1, 1, 1),
        ensemble_groups=torch.zeros(3, dtype=torch.long),
    )
    torch.testing.assert_close(repeated, single.expand(3, -1, -1, -1), atol=ATOL, rtol=0)


def test_ensemble_shares_one_query(tiny_model: ModelFactory) -> None:
    model = tiny_model()
    image_canvas, target_canvas = random_canvases(model.config, 2)
    H = model.config.image_size[0]
    image_canvas[1, :, H // 2 :] = image_canvas[0, :, H // 2 :]  # one query, two prompts
    alone = run(model, image_canvas, target_canvas)
    together = run(model, image_canvas, target_canvas, ensemble_groups=torch.zeros(2, dtype=torch.long))
    assert (together - alone).abs().max() > 1e-3  # the ensemble does something
    # the canvases now hold one averaged query: their query halves agree except the first pixel row,
    # where the decoder's 3x3 conv sees the prompt half (reference section 3)
    torch.testing.assert_close(together[0, :, H // 2 + 1 :], together[1, :, H // 2 + 1 :], atol=ATOL, rtol=0)
    assert (alone[0, :, H // 2 + 1 :] - alone[1, :, H // 2 + 1 :]).abs().max() > 1e-3


def test_batch_of_groups_equals_items_one_by_one(tiny_model: ModelFactory) -> None:
    model = tiny_model()
    image_canvas, target_canvas = random_canvases(model.config, 6)
    groups = torch.tensor([0, 0, 1, 2, 2, 2])  # three queries with 2, 1 and 3 prompts
    seg_type = torch.tensor([1, 1, 0, 1, 1, 1])  # the second query is semantic
    batched = run(model, image_canvas, target_canvas, ensemble_groups=groups, seg_type=seg_type)
    for group in range(3):
        idx = (groups == group).nonzero().squeeze(1)
        kind = "semantic" if seg_type[idx[0]] == 0 else "instance"
        alone = run(
            model,
            image_canvas[idx],
            target_canvas[idx],
            seg_type=kind,
            ensemble_groups=torch.zeros(len(idx), dtype=torch.long),
        )
        torch.testing.assert_close(batched[idx], alone, atol=ATOL, rtol=0)


def test_batch_without_ensemble_equals_items_one_by_one(tiny_model: ModelFactory) -> None:
    model = tiny_model()
    image_canvas, target_canvas = random_canvases(model.config, 3)
    batched = run(model, image_canvas, target_canvas)
    for i in range(3):
        torch.testing.assert_close(
            batched[i : i + 1], run(model, image_canvas[i : i + 1], target_canvas[i : i + 1]), atol=ATOL, rtol=0
        )


def test_query_only_equals_bottom_half(tiny_model: ModelFactory) -> None:
    model = tiny_model()
    image_canvas, target_canvas = random_canvases(model.config, 4)
    groups = torch.tensor([0, 0, 1, 1])
    H = model.config.image_size[0]
    for kwargs in ({}, {"ensemble_groups": groups}):
        full = run(model, image_canvas, target_canvas, **kwargs)
        query = run(model, image_canvas, target_canvas, query_only=True, **kwargs)
        assert query.shape == (4, 3, H // 2, model.config.image_size[1])
        torch.testing.assert_close(query, full[:, :, H // 2 :], atol=ATOL, rtol=0)


def forward_backward(
    model: SegGPT, image_canvas: torch.Tensor, target_canvas: torch.Tensor
) -> tuple[torch.Tensor, ...]:
    model.zero_grad()
    groups, seg_type = torch.tensor([0, 0, 1]), torch.tensor([1, 1, 0])  # both type tokens get gradients
    pred = model(image_canvas, target_canvas, ensemble_groups=groups, seg_type=seg_type)
    loss = model.loss(pred, target_canvas, model.default_mask(len(image_canvas)))
    loss.backward()
    return (pred.detach(), loss.detach(), *(p.grad.clone() for p in model.parameters() if p.grad is not None))


def test_gradient_checkpointing_gives_equal_outputs_and_gradients(tiny_model: ModelFactory) -> None:
    model = tiny_model().train()  # the test preset has no drop path, so train mode is deterministic
    image_canvas, target_canvas = random_canvases(model.config, 3)
    plain = forward_backward(model, image_canvas, target_canvas)
    model.grad_checkpointing = True
    checkpointed = forward_backward(model, image_canvas, target_canvas)
    assert len(plain) == len(checkpointed) == 2 + len(list(model.parameters()))
    for a, b in zip(plain, checkpointed):
        torch.testing.assert_close(a, b, atol=ATOL, rtol=0)


def test_forward_backward_finite_with_drop_path() -> None:
    torch.manual_seed(0)
    config = get_preset("seggpt-test")
    model = build_seggpt(type(config)(**{**config.__dict__, "drop_path_rate": 0.2})).train()
    image_canvas, target_canvas = random_canvases(model.config, 3)
    outputs = forward_backward(model, image_canvas, target_canvas)
    assert outputs[0].shape == image_canvas.shape
    assert all(torch.isfinite(t).all() for t in outputs)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters()), "a parameter got no grad"


def test_decoding_one_canvas_per_group_equals_selecting_it(tiny_model: ModelFactory) -> None:
    model = tiny_model()
    image_canvas, target_canvas = random_canvases(model.config, 6)
    groups = torch.tensor([0, 0, 0, 1, 1, 1])
    first = torch.tensor([0, 3])
    with torch.no_grad():
        full = model(image_canvas, target_canvas, ensemble_groups=groups, query_only=True)
        part = model(image_canvas, target_canvas, ensemble_groups=groups, query_only=True, decode_index=first)
    assert part.shape == (2, *full.shape[1:])
    torch.testing.assert_close(part, full[first], atol=1e-6, rtol=1e-5)


def group_canvases(model: SegGPT, prompts_per_query: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random canvases in groups whose canvases share their query half, and the (B,) group ids."""
    groups = torch.cat([torch.full((n,), g, dtype=torch.long) for g, n in enumerate(prompts_per_query)])
    image_canvas, target_canvas = random_canvases(model.config, len(groups))
    H = model.config.image_size[0]
    first = torch.tensor([groups.tolist().index(g) for g in groups.tolist()])
    image_canvas[:, :, H // 2 :] = image_canvas[first, :, H // 2 :]
    return image_canvas, target_canvas, groups


def test_shared_query_equals_the_ensemble_canvas_by_canvas(tiny_model: ModelFactory) -> None:
    model = tiny_model()
    image_canvas, target_canvas, groups = group_canvases(model, [3, 1, 2])
    seg_type = torch.tensor([1, 1, 1, 0, 1, 1])
    for kwargs in (
        {},
        {"query_only": True},
        {"query_only": True, "decode_index": torch.tensor([0, 3, 4])},
        {"decode_index": torch.tensor([5, 1])},
    ):
        plain = run(model, image_canvas, target_canvas, ensemble_groups=groups, seg_type=seg_type, **kwargs)
        shared = run(
            model, image_canvas, target_canvas, ensemble_groups=groups, seg_type=seg_type, shared_query=True, **kwargs
        )
        assert shared.shape == plain.shape
        torch.testing.assert_close(shared, plain, atol=ATOL, rtol=0)
    plain = run(model, image_canvas, target_canvas, ensemble_groups=groups)
    sparse = run(model, image_canvas, target_canvas, ensemble_groups=groups * 3 + 1, shared_query=True)  # ids 1, 4, 7
    torch.testing.assert_close(sparse, plain, atol=ATOL, rtol=0)


def test_shared_query_refuses_a_group_with_two_queries(tiny_model: ModelFactory) -> None:
    model = tiny_model()
    image_canvas, target_canvas, groups = group_canvases(model, [2])
    image_canvas[1, :, -1, -1] += 1.0  # one pixel of the second canvas's query differs
    with pytest.raises(ValueError, match="differ in their query half"):
        run(model, image_canvas, target_canvas, ensemble_groups=groups, shared_query=True)
    with pytest.raises(ValueError, match="needs ensemble_groups"):
        run(model, image_canvas, target_canvas, shared_query=True)


def test_shared_query_has_gradients_equal_to_the_plain_ensemble(tiny_model: ModelFactory) -> None:
    """In-context tuning differentiates through the ensemble (the model frozen in eval mode, the prompt learnt)."""
    model = tiny_model()
    image_canvas, target_canvas, groups = group_canvases(model, [2, 2])
    grads = []
    for shared in (False, True):
        prompt = target_canvas.clone().requires_grad_(True)
        out = model(image_canvas, prompt, ensemble_groups=groups, query_only=True, shared_query=shared)
        out.square().sum().backward()
        grads.append(prompt.grad)
    torch.testing.assert_close(grads[1], grads[0], atol=1e-4, rtol=1e-4)


@settings(max_examples=40, deadline=None)
@given(size=st.integers(1, 20), grid=st.tuples(st.integers(1, 64), st.integers(1, 64)), seed=st.integers(0, 99))
def test_position_table_resize_equals_bicubic_interpolation(size: int, grid: tuple[int, int], seed: int) -> None:
    """Up- and downsizing, square or not, down to a 1x1 table or grid (the two products vs F.interpolate)."""
    table = torch.randn(1, 1 + size * size, 24, generator=torch.Generator().manual_seed(seed))
    grid_first = table[:, 1:].reshape(1, size, size, -1).permute(0, 3, 1, 2)
    expected = F.interpolate(grid_first, size=grid, mode="bicubic", align_corners=False).permute(0, 2, 3, 1)
    torch.testing.assert_close(resize_abs_pos(table, True, grid), expected, atol=2e-6, rtol=0)


def test_patch_embedding_equals_its_strided_convolution() -> None:
    embed = PatchEmbed(3, 32, 8)
    for shape in [(2, 3, 64, 32), (1, 3, 70, 45)]:  # the second leaves a remainder, which both drop
        x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            expected = embed.proj(x).permute(0, 2, 3, 1)
            torch.testing.assert_close(embed(x), expected, atol=1e-5, rtol=0)
