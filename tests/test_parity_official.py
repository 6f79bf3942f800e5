"""Parity with the authors' own code: the `official_small_a_*` fixture, loaded through the checkpoint path."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import official_canvases
from seggpt.inference.precision import prepare_model
from seggpt.model import SegGPT, build_seggpt, get_preset, load_model

CASES = [  # (case, number of prompts, seg_type, feature ensemble)
    ("single_instance", 1, "instance", False),
    ("single_semantic", 1, "semantic", False),
    ("ensemble_instance", 3, "instance", True),
]


def check_fixture(
    model: SegGPT, io: dict[str, torch.Tensor], case: str, num_prompts: int, seg_type: str, ensemble: bool
) -> None:
    image_canvas, target_canvas = official_canvases(io, num_prompts)
    groups = torch.zeros(num_prompts, dtype=torch.long) if ensemble else None
    with torch.no_grad():
        pred = model(image_canvas, target_canvas, seg_type=seg_type, ensemble_groups=groups)  # type: ignore[arg-type]
        loss = model.loss(pred, target_canvas, model.default_mask(num_prompts))
    expected = io[f"{case}.pred"]
    assert pred.shape == expected.shape
    torch.testing.assert_close(pred, expected, atol=1e-5, rtol=0)
    if ensemble:  # the query computed once for the group reproduces the official ensemble too
        with torch.no_grad():
            shared = model(image_canvas, target_canvas, seg_type=seg_type, ensemble_groups=groups, shared_query=True)  # type: ignore[arg-type]
        torch.testing.assert_close(shared, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(loss, io[f"{case}.loss"].reshape(()), atol=1e-5, rtol=0)


@pytest.fixture(scope="module")
def fixture_model(official_weights_path: Path, official_config_path: Path) -> SegGPT:
    return load_model(official_weights_path, config=official_config_path)


@pytest.mark.parametrize("runner", [False, True], ids=["model", "cpu_fp32_runner"])
@pytest.mark.parametrize(("case", "num_prompts", "seg_type", "ensemble"), CASES)
def test_official_fixture_safetensors(
    fixture_model: SegGPT,
    official_io: dict[str, torch.Tensor],
    case: str,
    num_prompts: int,
    seg_type: str,
    ensemble: bool,
    runner: bool,
) -> None:
    """The model, and what `Segmenter` runs on a CPU in fp32 (its Linear layers on oneDNN where torch has it)."""
    assert not fixture_model.training
    model = prepare_model(fixture_model, "fp32", torch.device("cpu")) if runner else fixture_model
    assert isinstance(model, SegGPT)
    check_fixture(model, official_io, case, num_prompts, seg_type, ensemble)


@pytest.mark.parametrize("wrap", [True, False], ids=["under_model_key", "bare_state_dict"])
def test_official_fixture_pth(
    tmp_path: Path,
    official_weights_path: Path,
    official_config_path: Path,
    official_io: dict[str, torch.Tensor],
    wrap: bool,
) -> None:
    state_dict = load_file(official_weights_path)
    path = tmp_path / "checkpoint.pth"
    torch.save({"model": state_dict} if wrap else state_dict, path)
    model = load_model(path, config=official_config_path)
    for case in CASES:
        check_fixture(model, official_io, *case)


def test_query_only_is_bottom_half_of_fixture(fixture_model: SegGPT, official_io: dict[str, torch.Tensor]) -> None:
    image_canvas, target_canvas = official_canvases(official_io, 3)
    groups = torch.zeros(3, dtype=torch.long)
    with torch.no_grad():
        query = fixture_model(image_canvas, target_canvas, ensemble_groups=groups, query_only=True)
    torch.testing.assert_close(query, official_io["ensemble_instance.pred"][:, :, 64:], atol=1e-5, rtol=0)


def test_official_file_without_config_explains_shapes(official_weights_path: Path) -> None:
    with pytest.raises(ValueError, match=r"wrong shapes.*\n.*looks like .*embed_dim=64, patch_size=16, num_heads=4"):
        load_model(official_weights_path)  # defaults to ViT-L, which the fixture does not fit


def test_vit_large_on_meta_has_the_official_names_and_shapes(reference_dir: Path) -> None:
    rows = (reference_dir / "official_seggpt_vit_large_keys.tsv").read_text().strip().splitlines()
    official = dict(line.split("\t") for line in rows)
    model = build_seggpt(get_preset("seggpt-vit-large"), device="meta", init=False)
    ours = {name: str(tuple(tensor.shape)) for name, tensor in model.state_dict().items()}
    assert list(ours) == list(official)  # same names, same order
    assert ours == official
    assert sum(p.numel() for p in model.parameters()) == 370_723_203  # reference section 1
