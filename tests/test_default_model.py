"""The embedded default model: it ships in the package, loads by name, and segments the repository's examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seggpt import Segmenter, build_seggpt, get_preset, load_model
from seggpt.cli.main import main
from seggpt.model.hub import DEFAULT_MODEL_FILE
from seggpt.model.seggpt import SegGPT

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "shapes"
PROMPTS = [(EXAMPLES / f"prompt_{i}.png", EXAMPLES / f"prompt_{i}_mask.png") for i in range(2)]
QUERIES = sorted((EXAMPLES / "queries").glob("*.png"))


def test_default_weights_ship_in_the_package_within_20_mb() -> None:
    assert DEFAULT_MODEL_FILE.is_file()
    assert DEFAULT_MODEL_FILE.stat().st_size <= 20 * 1024 * 1024


def test_default_model_loads_by_name() -> None:
    model = load_model("seggpt-default")
    assert model.config == get_preset("seggpt-vit-tiny")
    assert next(model.parameters()).dtype.is_floating_point and not model.training


def test_readme_main_command_on_the_examples(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["segment", "--input", str(EXAMPLES / "queries"), "--output", str(out), "--format", "label,overlay"]
    for image, mask in PROMPTS:
        args += ["--prompt", str(image), str(mask)]
    assert main(args) == 0
    for query in QUERIES:
        labels = np.asarray(Image.open(out / query.name))
        assert labels.shape == np.asarray(Image.open(query)).shape[:2]
        assert (out / f"{query.stem}_overlay.png").is_file()


@pytest.mark.parametrize("name", ["seggpt-default"])
def test_video_cli_runs_on_the_default_model(name: str, tmp_path: Path) -> None:
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, query in enumerate(QUERIES[:3]):
        Image.open(query).convert("RGB").save(frames / f"{i:05d}.jpg")
    mask = (np.asarray(Image.open(EXAMPLES / "truth" / QUERIES[0].name)) > 0).astype(np.uint8)
    Image.fromarray(mask).save(tmp_path / "first.png")
    out = tmp_path / "out"
    args = ["video", "--input", str(frames), "--first-mask", str(tmp_path / "first.png"), "--output", str(out)]
    assert main([*args, "--model", name]) == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["00000.png", "00001.png", "00002.png"]


def mean_iou(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean IoU over the classes >= 1 of `truth` (0 = background)."""
    ious = [((pred == c) & (truth == c)).sum() / ((pred == c) | (truth == c)).sum() for c in np.unique(truth) if c]
    return float(np.mean(ious))


def self_prompt_iou(model: SegGPT) -> float:
    """Mean IoU of the shapes when the example prompt segments its own image (semantic, label map prompt)."""
    segmenter = Segmenter(model, seg_type="semantic")
    image, mask = PROMPTS[0]
    segmenter.set_prompts([image], [mask])
    return mean_iou(segmenter.segment([image])[0].labels, np.asarray(Image.open(mask)))


def test_default_model_reads_its_prompt() -> None:
    """Trained, not decorative: it copies a prompt's mask onto the same image, which the same architecture
    untrained cannot (measured for the shipped weights: 0.92 against 0.05)."""
    trained = self_prompt_iou(load_model("seggpt-default"))
    torch.manual_seed(0)
    untrained = self_prompt_iou(build_seggpt(get_preset("seggpt-vit-tiny")).eval())
    assert trained > 0.7 and trained > untrained + 0.5, (trained, untrained)
