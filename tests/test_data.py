"""seggpt.data: the reading path shared by training, tuning, evaluation and video, and the layout registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seggpt.cli.main import build_parser
from seggpt.data import CLASS_LAYOUTS
from seggpt.data.fss1000 import fss1000
from seggpt.data.io import is_single_object, load_label_map, natural_key
from seggpt.data.sources import VideoObjects


def test_natural_order() -> None:
    names = ["frame10.png", "Frame2.png", "frame1.png", "10.jpg", "9.jpg"]
    assert sorted(names, key=natural_key) == ["9.jpg", "10.jpg", "frame1.png", "Frame2.png", "frame10.png"]


def test_davis_2016_rule_reads_0_255_as_one_object(tmp_path: Path) -> None:
    assert is_single_object(np.array([[0, 255], [255, 0]])) and not is_single_object(np.array([[0, 1], [2, 255]]))
    frames, masks = tmp_path / "JPEGImages" / "v", tmp_path / "Annotations" / "v"
    frames.mkdir(parents=True), masks.mkdir(parents=True)
    binary = np.zeros((4, 6), np.uint8)
    binary[1:3, 2:5] = 255
    for i in range(2):
        Image.fromarray(np.full((4, 6, 3), 50 * i, np.uint8)).save(frames / f"0000{i}.jpg")
        Image.fromarray(binary).save(masks / f"0000{i}.png")
    source = VideoObjects([[(frames / f"0000{i}.jpg", masks / f"0000{i}.png") for i in range(2)]])
    labels = source.load(0, 1).labels
    assert labels.dtype == np.int64 and set(np.unique(labels).tolist()) == {0, 1} and labels.sum() == 6


def test_label_maps_must_be_single_channel(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((3, 3, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(ValueError, match=r"rgb.png: expected a single-channel or indexed label PNG"):
        load_label_map(tmp_path / "rgb.png")


def test_fss1000_targets_any_nonzero_channel(tmp_path: Path) -> None:
    folder = tmp_path / "eiffel"
    folder.mkdir()
    for n in (1, 2, 10):
        Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(folder / f"{n}.jpg")
        mask = np.zeros((4, 4, 3), np.uint8)
        mask[: n % 4 + 1, :, 1] = 1  # foreground = 1 in one channel, as the FSS-1000 files
        Image.fromarray(mask).save(folder / f"{n}.png")
    dataset = fss1000(tmp_path)
    assert [p.stem for p, _ in dataset.items] == ["1", "2", "10"]
    foreground, ignore = dataset.read_target(2)
    assert ignore is None and foreground.dtype == bool and foreground.sum() == 12


def test_tune_accepts_every_registered_layout() -> None:
    parser = build_parser()
    for name in [*CLASS_LAYOUTS, "folder"]:
        args = parser.parse_args(["tune", "--dataset", name, "--model", "m", "--output", "p.safetensors"])
        assert args.dataset == name
    for layout in CLASS_LAYOUTS.values():
        assert len(layout.class_ids) == len(layout.class_names)
