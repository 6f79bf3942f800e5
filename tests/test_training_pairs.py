"""In-context pairs: colour mapping, shared labels only, ignore pixels, mixed context, masking, sources."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seggpt.data.sources import Sample
from seggpt.inference.canvas import denormalize
from seggpt.inference.palette import palette
from seggpt.training.dataset import PairDataset, WeightedSource
from seggpt.training.pairs import (
    EVAL_OPTIONS,
    PairOptions,
    block_mask,
    build_example,
    choose_keys,
    collate_examples,
    random_colours,
)
from seggpt.training.synthetic import SYNTHETIC_TASKS, SyntheticScenes, render_scene

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
IMAGE_SIZE, PATCH = (64, 32), 8  # the seggpt-test canvas


def striped_sample(classes: list[int], seed: int) -> Sample:
    """A 32x32 sample: vertical stripes of the given labels (label -1 = ignore), random image."""
    labels = np.repeat(np.array(classes, dtype=np.int64), 32 // len(classes))[None].repeat(32, 0)
    image = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    return Sample(image, labels)


def target_rgb(target_canvas: torch.Tensor) -> np.ndarray:
    return denormalize(target_canvas).round().astype(np.int64)


def test_random_colours_distinct_and_not_black() -> None:
    rng = np.random.default_rng(0)
    for count in (1, 5, 40):
        colours = random_colours(count, rng).astype(float)
        assert colours.shape == (count, 3)
        assert np.linalg.norm(colours, axis=1).min() > 10
        d = np.linalg.norm(colours[:, None] - colours[None], axis=-1) + np.eye(count) * 1e9
        assert d.min() > 10


def test_choose_keys_are_shared_non_empty_subsets() -> None:
    rng = np.random.default_rng(0)
    prompt, query = np.array([0, 1, 2, 3, -1]), np.array([2, 3, 4, 0, -1])
    seen = set()
    for _ in range(50):
        keys = choose_keys(prompt, query, rng)
        assert keys and set(keys) <= {2, 3}
        seen.add(tuple(keys))
    assert seen == {(2,), (3,), (2, 3)}
    assert choose_keys(prompt, np.array([4, 5]), rng) == []
    assert choose_keys(prompt, query, rng, colour_all=True) == [2, 3]


@pytest.mark.parametrize("seed", range(5))
def test_pair_colours_consistent_black_background_and_ignore_invalid(seed: int) -> None:
    prompt, query = striped_sample([1, 2, 3, -1], seed), striped_sample([2, 4, 3, -1], seed + 100)
    rng = np.random.default_rng(seed)
    options = PairOptions(crop_scale=(1.0, 1.0), flip_prob=0.0, jitter=0.4)  # positions fixed, images jittered
    example, layout = build_example([(prompt, query)], "semantic", IMAGE_SIZE, PATCH, rng, options)
    assert example.image_canvas.shape == example.target_canvas.shape == (3, 64, 32)
    assert example.valid.shape == (1, 64, 32) and example.bool_masked_pos.shape == (8, 4)
    assert int(example.seg_type) == 0
    assert layout.keys and set(layout.keys) <= {2, 3}  # shared classes only
    rgb = target_rgb(example.target_canvas)
    top, bottom = rgb[:32], rgb[32:]
    stripe = {label: slice(8 * i, 8 * i + 8) for i, label in enumerate([1, 2, 3, -1])}
    query_stripe = {label: slice(8 * i, 8 * i + 8) for i, label in enumerate([2, 4, 3, -1])}
    for i, key in enumerate(layout.keys, start=1):
        colour = layout.colours[i].astype(np.int64)
        assert (np.abs(top[:, stripe[key]] - colour) <= 1).all()
        assert (np.abs(bottom[:, query_stripe[key]] - colour) <= 1).all()  # the same colour in prompt and query
    for label in {1, 2, 3} - set(layout.keys):
        assert (top[:, stripe[label]] <= 1).all()  # not chosen: black
    assert (top[:, stripe[-1]] <= 1).all() and (bottom[:, query_stripe[4]] <= 1).all()
    valid = example.valid[0].numpy()
    assert (valid[:32, stripe[-1]] == 0).all() and (valid[32:, query_stripe[-1]] == 0).all()
    assert valid.sum() == 64 * 32 - 2 * 32 * 8
    assert (layout.query_labels[:, query_stripe[-1]] == -1).all()
    colours = layout.colours[1:].astype(float)
    assert len({tuple(c) for c in colours}) == len(colours)


def test_mask_is_query_half_plus_blocks() -> None:
    rng = np.random.default_rng(0)
    plain = block_mask((8, 4), 0.0, rng)
    assert plain[4:].all() and not plain[:4].any()
    blocks = block_mask((16, 8), 0.4, rng)
    assert blocks[8:].all() and 0.3 <= blocks[:8].mean() < 1.0


def test_mixed_context_shapes_and_one_mapping() -> None:
    rng = np.random.default_rng(3)
    source = SyntheticScenes("instance", num_scenes=20, size=(48, 48))
    views = [source.pair(i, rng) for i in range(3)]
    example, layout = build_example(views, "instance", IMAGE_SIZE, PATCH, rng, PairOptions())
    assert example.image_canvas.shape == (3, 64, 32) and example.target_canvas.shape == (3, 64, 32)
    assert example.valid.shape == (1, 64, 32) and int(example.seg_type) == 1
    assert len(layout.keys) == len(set(layout.keys)) and len(layout.colours) == len(layout.keys) + 1
    assert {k >> 20 for k in layout.keys} <= {1, 2, 3}  # objects of different pairs keep distinct ids
    batch = collate_examples([example, example])
    assert batch.image_canvas.shape == (2, 3, 64, 32) and batch.bool_masked_pos.shape == (2, 8, 4)
    assert batch.seg_type.tolist() == [1, 1]


def test_aligned_same_image_pair_shows_one_view_twice() -> None:
    sample = striped_sample([1, 2, 3, -1], 0)
    options = PairOptions(crop_scale=(0.3, 0.6), flip_prob=0.5, jitter=0.4, align_same=True)
    for seed in range(4):
        example, layout = build_example(
            [(sample, sample)], "semantic", IMAGE_SIZE, PATCH, np.random.default_rng(seed), options
        )
        assert torch.equal(example.image_canvas[:, :32], example.image_canvas[:, 32:])
        assert torch.equal(example.target_canvas[:, :32], example.target_canvas[:, 32:])
        assert layout.keys
    # Two different samples, or the option off: independent views (crops of 30-60% never coincide here).
    other = striped_sample([1, 2, 3, -1], 1)
    example, _ = build_example([(other, sample)], "semantic", IMAGE_SIZE, PATCH, np.random.default_rng(0), options)
    assert not torch.equal(example.image_canvas[:, :32], example.image_canvas[:, 32:])
    unaligned = PairOptions(crop_scale=(0.3, 0.6), jitter=0.4)
    example, _ = build_example([(sample, sample)], "semantic", IMAGE_SIZE, PATCH, np.random.default_rng(0), unaligned)
    assert not torch.equal(example.image_canvas[:, :32], example.image_canvas[:, 32:])


def test_palette_prob_maps_keys_to_the_reference_palette() -> None:
    prompt, query = striped_sample([1, 2, 3, 4], 0), striped_sample([4, 3, 2, 1], 1)
    options = PairOptions(crop_scale=(1.0, 1.0), flip_prob=0.0, colour_all=True, palette_prob=1.0)
    orders = set()
    for seed in range(6):
        example, layout = build_example(
            [(prompt, query)], "semantic", IMAGE_SIZE, PATCH, np.random.default_rng(seed), options
        )
        assert layout.keys == [1, 2, 3, 4]
        assert sorted(map(tuple, layout.colours[1:].tolist())) == sorted(map(tuple, palette(4)[1:].tolist()))
        rgb = target_rgb(example.target_canvas)
        for i, key in enumerate(layout.keys, start=1):  # painted with the mapped palette colour
            assert (np.abs(rgb[:32, 8 * (key - 1) + 3] - layout.colours[i]) <= 1).all()
        orders.add(tuple(map(tuple, layout.colours[1:].tolist())))
    assert len(orders) > 1  # the assignment of palette colours to keys is random
    random_only = PairOptions(crop_scale=(1.0, 1.0), flip_prob=0.0, colour_all=True)
    _, layout = build_example([(prompt, query)], "semantic", IMAGE_SIZE, PATCH, np.random.default_rng(0), random_only)
    assert not set(map(tuple, layout.colours[1:].tolist())) <= set(map(tuple, palette(4).tolist()))


def test_same_image_prob_makes_pairs_of_the_query() -> None:
    sources = [WeightedSource(SyntheticScenes("shape", num_scenes=20, size=(48, 48)), "synthetic", 1.0)]
    aligned = PairOptions(align_same=True)
    always = PairDataset(sources, IMAGE_SIZE, PATCH, options=aligned, same_image_prob=1.0)
    for i in range(6):
        example = always[i]
        assert torch.equal(example.image_canvas[:, :32], example.image_canvas[:, 32:])
    never = PairDataset(sources, IMAGE_SIZE, PATCH, options=aligned, same_image_prob=0.0)
    differs = [not torch.equal(never[i].image_canvas[:, :32], never[i].image_canvas[:, 32:]) for i in range(6)]
    assert all(differs)  # shape scenes pair two different scenes


def test_synthetic_scenes_are_seeded_and_tasks_label_sensibly() -> None:
    a, b = render_scene(0, 5), render_scene(0, 5)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.objects, b.objects)
    assert not np.array_equal(render_scene(1, 5).image, a.image)
    for task in SYNTHETIC_TASKS:
        source = SyntheticScenes(task, num_scenes=10)
        prompt, query = source.pair(2, np.random.default_rng(0))
        assert prompt.image.shape == (64, 64, 3) and query.labels.shape == (64, 64)
        assert query.labels.min() >= 0 and query.labels.max() >= 1
    _, layout = build_example(
        [source.pair(0, np.random.default_rng(0))],
        "instance",
        IMAGE_SIZE,
        PATCH,
        np.random.default_rng(0),
        EVAL_OPTIONS,
    )
    assert layout.query_labels.shape == (32, 32) and layout.query_labels.max() == len(layout.keys)


@pytest.mark.data
def test_camvid_and_davis_sources() -> None:
    if not (DATA / "camvid").is_dir() or not (DATA / "davis2016").is_dir():
        pytest.skip(f"CamVid / DAVIS 2016 not found under {DATA}")
    from seggpt.data.camvid import camvid
    from seggpt.data.davis import davis

    source = camvid(DATA / "camvid", "val")
    assert len(source) == 101
    sample = source.load(0)
    assert sample.image.shape == (360, 480, 3) and sample.labels.shape == (360, 480)
    assert sample.labels.min() >= -1 and sample.labels.max() <= 11 and (sample.labels == 0).sum() == 0
    video = davis(DATA / "davis2016", "240p", "train")
    assert len(video.sequences) == 30
    prompt, query = video.pair(0, np.random.default_rng(0))
    assert set(np.unique(query.labels).tolist()) <= {0, 1} and prompt.image.shape == (240, 427, 3)
