"""VideoSegmenter: object bookkeeping with a perfect stub model, memory bounds, corrections, a real tiny model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from seggpt.inference.canvas import denormalize, normalize
from seggpt.inference.palette import colours_to_labels
from seggpt.inference.video import VideoSegmenter, object_colours
from seggpt.model.config import get_preset
from seggpt.model.seggpt import build_seggpt

CONFIG = get_preset("seggpt-test")
h, W = CONFIG.query_size  # 32 x 32


class PerfectModel(nn.Module):
    """Stands in for SegGPT: returns the true colour target of each query, and records what it was given."""

    def __init__(self, truths: list[np.ndarray], object_ids: list[int]):
        super().__init__()
        self.config = CONFIG
        self.weight = nn.Parameter(torch.zeros(1))
        self.truths = list(truths)  # (h, W) object ids at query size, one per step
        self.object_ids = object_ids  # the video's objects: their colours are object_colours(ids)
        self.calls: list[dict] = []

    def forward(
        self,
        image_canvas,
        target_canvas,
        bool_masked_pos=None,
        seg_type="instance",
        ensemble_groups=None,
        query_only=False,
        decode_index=None,
        shared_query=False,
    ):
        n = image_canvas.shape[0]
        assert shared_query  # the prompts share the frame: its half is computed once
        assert query_only and ensemble_groups is not None and torch.equal(ensemble_groups, torch.zeros(n).long())
        assert decode_index is not None and decode_index.tolist() == [0]  # only the first canvas is decoded
        self.calls.append({"n": n, "targets": target_canvas[:, :, :h].clone(), "images": image_canvas.clone()})
        ids = np.array([0, *sorted(self.object_ids)])
        colours = object_colours(ids[1:])
        return normalize(colours[np.searchsorted(ids, self.truths.pop(0))])[None]


def moving_objects(num_frames: int, size: tuple[int, int] = (h, W)) -> list[np.ndarray]:
    """Label maps with objects 2, 5, 7 that move and swap places (identity must follow the ids)."""
    H_, W_ = size
    out = []
    for t in range(num_frames):
        labels = np.zeros(size, dtype=np.int64)
        labels[: H_ // 2, (t * W_ // 16) % (W_ // 2) : (t * W_ // 16) % (W_ // 2) + W_ // 4] = 2
        labels[H_ // 2 :, : W_ // 4] = 5 if t % 2 == 0 else 7
        labels[H_ // 2 :, W_ // 2 : 3 * W_ // 4] = 7 if t % 2 == 0 else 5
        out.append(labels)
    return out


def random_frames(num_frames: int, size: tuple[int, int] = (h, W), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(num_frames)]


def decode_targets(targets: Tensor, ids: list[int]) -> list[np.ndarray]:
    """(n, 3, h, W) normalized colour targets -> object ids, to check what the memory holds."""
    colours = object_colours(np.array(sorted(ids)))
    lut = np.array([0, *sorted(ids)])
    return [lut[colours_to_labels(denormalize(t), colours)[0]] for t in targets]


@pytest.mark.parametrize("size", [(h, W), (3 * h, 2 * W)])
def test_identity_of_several_objects_is_kept(size):
    truth = moving_objects(10, size)
    model = PerfectModel([t[:: size[0] // h, :: size[1] // W] for t in truth[1:]], [2, 5, 7])
    segmenter = VideoSegmenter(model, memory=3)
    results = list(segmenter.propagate(random_frames(10, size), truth[0]))
    assert [i for i, _ in results] == list(range(10))
    for (_, labels), expected in zip(results, truth):
        assert labels.dtype == np.int64 and labels.shape == size
        np.testing.assert_array_equal(labels, expected)
    # The memory holds each object in its own colour: the prompt targets decode to the earlier frames' ids.
    small = [t[:: size[0] // h, :: size[1] // W] for t in truth]
    for step, call in enumerate(model.calls, start=1):
        decoded = decode_targets(call["targets"], [2, 5, 7])
        expected_frames = [0, *range(max(1, step - 3), step)]
        assert len(decoded) == len(expected_frames)
        for got, frame in zip(decoded, expected_frames):
            np.testing.assert_array_equal(got, small[frame])


@pytest.mark.parametrize("keep_first", [True, False])
def test_memory_is_bounded(keep_first):
    truth = moving_objects(12)
    model = PerfectModel(truth[1:], [2, 5, 7])
    segmenter = VideoSegmenter(model, memory=3, keep_first=keep_first)
    frames = random_frames(12)
    state = segmenter.init_state(frames[0], truth[0])
    for t in range(1, 12):
        segmenter.step(state, frames[t])
        assert len(state.memory_images) == len(state.memory_targets) <= 3
        if keep_first:
            assert state.anchor_image is not None and list(state.memory_frames) == list(range(max(1, t - 2), t + 1))
        else:
            assert state.anchor_image is None and list(state.memory_frames) == list(range(max(0, t - 2), t + 1))
    counts = [call["n"] for call in model.calls]
    if keep_first:
        assert counts == [1, 2, 3] + [4] * 8  # the first frame + up to K = 3 predictions
        first_image = normalize(frames[0])
        assert all(torch.allclose(call["images"][0, :, :h], first_image) for call in model.calls)
    else:
        assert counts == [1, 2, 3] + [3] * 8  # the first frame is the oldest entry and leaves
        assert not torch.allclose(model.calls[-1]["images"][0, :, :h], normalize(frames[0]))


@pytest.mark.parametrize("keep_first", [True, False])
def test_add_mask_restarts_from_the_correction(keep_first):
    truth = moving_objects(8)
    corrected = truth[4].copy()
    corrected[:4, -4:] = 9  # a new object appears
    after = [t.copy() for t in truth[5:]]
    for t in after:
        t[:4, -4:] = 9
    model = PerfectModel(truth[1:4] + after, [2, 5, 7])
    segmenter = VideoSegmenter(model, memory=2, keep_first=keep_first)
    frames = random_frames(8)
    state = segmenter.init_state(frames[0], truth[0])
    for t in range(1, 4):
        segmenter.step(state, frames[t])
    segmenter.add_mask(state, frames[4], corrected)
    model.object_ids = [2, 5, 7, 9]
    assert state.frame_index == 5 and list(state.object_ids) == [2, 5, 7, 9]
    assert state.num_prompts == 1 and list(state.memory_frames) == ([] if keep_first else [4])
    prompt = state.anchor_target if keep_first else state.memory_targets[0]
    np.testing.assert_array_equal(decode_targets(prompt[None], [2, 5, 7, 9])[0], corrected)
    for t in range(5, 8):
        np.testing.assert_array_equal(segmenter.step(state, frames[t]), after[t - 5])
    assert [c["n"] for c in model.calls] == ([1, 2, 3, 1, 2, 3] if keep_first else [1, 2, 2, 1, 2, 2])


def test_tiny_model_runs_end_to_end():
    torch.manual_seed(0)
    model = build_seggpt(CONFIG)
    segmenter = VideoSegmenter(model, memory=2)
    frames = random_frames(5, (40, 50))
    mask = np.zeros((40, 50), dtype=np.int64)
    mask[5:20, 5:25], mask[25:, 30:] = 1, 3
    out = list(segmenter.propagate(frames[1:], mask, first_frame=frames[0]))
    assert [i for i, _ in out] == [0, 1, 2, 3]  # with a separate first frame, every frame is predicted
    for _, labels in out:
        assert labels.shape == (40, 50) and labels.dtype == np.int64 and set(np.unique(labels)) <= {0, 1, 3}


def test_bad_inputs_are_clear_errors():
    model = PerfectModel([], [1])
    segmenter = VideoSegmenter(model, memory=2)
    frame = random_frames(1, (20, 30))[0]
    with pytest.raises(ValueError, match=r"mask size \(20, 31\) differs from the frame size \(20, 30\)"):
        segmenter.init_state(frame, np.zeros((20, 31), dtype=np.int64))
    state = segmenter.init_state(frame, np.ones((20, 30), dtype=np.int64))
    with pytest.raises(ValueError, match=r"frame 1 has size \(21, 30\), but the video's frames are \(20, 30\)"):
        segmenter.step(state, random_frames(1, (21, 30))[0])
    close = np.zeros((20, 30), dtype=np.int64)
    close[:5], close[5:10] = 4999, 5000  # palette(5000) colours are 14 apart
    with pytest.raises(ValueError, match="closer than"):
        segmenter.init_state(frame, close)
    with pytest.raises(ValueError, match="memory must be"):
        VideoSegmenter(model, memory=0, keep_first=False)
    with pytest.raises(ValueError, match="no frames"):
        list(segmenter.propagate([], np.ones((20, 30), dtype=np.int64)))
