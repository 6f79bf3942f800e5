"""The paste baselines answer with the prompt's (or first frame's) mask, through the runners' interface."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seggpt.cli.main import main
from seggpt.evaluation.baselines import PasteFirstFrame, PastePrompt


def test_paste_prompt_returns_the_first_prompt_labels_resized() -> None:
    mask = np.zeros((4, 6), np.uint8)
    mask[:, 3:] = 7
    mask[0, 0] = 9
    baseline = PastePrompt()
    baseline.set_prompts([np.zeros((4, 6, 3), np.uint8)], [mask], mask_type="labels")
    (pred,) = baseline.segment([np.zeros((8, 12, 3), np.uint8)])
    assert pred.labels.shape == (8, 12)
    assert (pred.labels[:, 6:] == 7).all() and (pred.labels[2:, :6] == 0).all() and pred.labels[0, 0] == 9
    assert pred.overlay().shape == (8, 12, 3)


def test_paste_prompt_needs_prompts() -> None:
    with pytest.raises(RuntimeError, match="set_prompts"):
        PastePrompt().segment([np.zeros((2, 2, 3), np.uint8)])


def test_paste_first_frame_repeats_the_mask() -> None:
    first = np.array([[0, 1], [2, 0]])
    frames = [np.zeros((2, 2, 3), np.uint8), np.zeros((4, 4, 3), np.uint8)]
    out = list(PasteFirstFrame().propagate(frames, first))
    assert [i for i, _ in out] == [0, 1]
    assert (out[0][1] == first).all() and out[1][1].shape == (4, 4) and out[1][1][3, 0] == 2


def test_cli_semantic_paste_baseline(tmp_path: Path) -> None:
    for split in ("train", "val"):
        (tmp_path / split).mkdir()
        (tmp_path / f"{split}annot").mkdir()
    left = np.zeros((8, 8), np.uint8)
    left[:, 4:] = 1
    for split, labels in (("train", left), ("val", left), ("val", 1 - left)):
        name = f"{len(list((tmp_path / split).iterdir()))}"
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / split / f"{name}.png")
        Image.fromarray(labels).save(tmp_path / f"{split}annot" / f"{name}.png")
    args = ["eval", "semantic", "--images", str(tmp_path / "val"), "--labels", str(tmp_path / "valannot"),
            "--train-images", str(tmp_path / "train"), "--train-labels", str(tmp_path / "trainannot"),
            "--num-classes", "2", "--num-prompts", "1", "--baseline", "paste",
            "--output", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    report = json.loads((tmp_path / "out" / "semantic.json").read_text())
    assert report["mIoU"] == pytest.approx(1 / 3)  # one val image right, one inverted: IoU 1/3 per class
    assert main([*args[:-4], "--output", str(tmp_path / "o2")]) == 2  # neither --model nor --baseline
