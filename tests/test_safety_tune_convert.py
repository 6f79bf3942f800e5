"""`seggpt tune` and `seggpt convert`: outputs that are folders or inputs are refused before any work."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seggpt import build_seggpt, get_preset, save_model
from seggpt.cli.main import main
from seggpt.tuning import tuner
from test_tuning import make_folder


@pytest.fixture
def weights(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    return save_model(build_seggpt(get_preset("seggpt-test")), tmp_path / "model.safetensors")


def _tune(tmp_path: Path, weights: Path, output: Path, *extra: str) -> int:
    if not (tmp_path / "data").exists():
        make_folder(tmp_path / "data")
    images, masks = tmp_path / "data" / "images", tmp_path / "data" / "masks"
    args = ["tune", "--dataset", "folder", "--images", str(images), "--masks", str(masks), "--model", str(weights),
            "--output", str(output), "--steps", "50", "--batch-size", "1", "--no-progress", *extra]  # fmt: skip
    return main(args)


def test_tune_output_that_is_a_folder_is_refused_before_tuning(tmp_path, weights, capsys, monkeypatch):
    def never(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("tuning started")

    monkeypatch.setattr(tuner, "tune_prompt", never)
    (tmp_path / "prompts").mkdir()
    assert _tune(tmp_path, weights, tmp_path / "prompts") == 2
    assert "is a folder; expected a file name" in capsys.readouterr().err
    assert not list((tmp_path / "prompts").iterdir())


def test_tune_output_over_the_model_is_refused(tmp_path, weights, capsys):
    before = weights.read_bytes()
    assert _tune(tmp_path, weights, weights) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert weights.read_bytes() == before


def test_convert_onto_its_source_is_refused(tmp_path, weights, capsys):
    before = weights.read_bytes()
    assert main(["convert", str(weights), str(weights)]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert weights.read_bytes() == before
    assert main(["convert", str(weights), str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err


class _Payload:
    """Pickles as a call to `exec`: loading it with pickle would run code."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (exec, ("raise SystemExit('the pickle ran')",))


@pytest.mark.parametrize("content", ["pickle", "truncated", "foreign"])
def test_tune_resume_state_that_is_not_ours_is_one_line(tmp_path, weights, capsys, content):
    output = tmp_path / "prompt.safetensors"
    state = tmp_path / "prompt.safetensors.state.pt"
    if content == "pickle":
        torch.save({"step": _Payload()}, state)
    elif content == "truncated":
        state.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    else:
        torch.save({"weights": torch.zeros(2)}, state)
    assert _tune(tmp_path, weights, output, "--resume") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert str(state) in err and not output.exists()


def test_tune_resume_with_other_settings_model_or_data_is_refused(tmp_path, weights, capsys):
    """A resumed tuning run is the run it continues: another lr, model or dataset is refused (more steps are not)."""
    output = tmp_path / "prompt.safetensors"
    assert _tune(tmp_path, weights, output, "--steps", "2", "--save-every", "1", "--lr", "0.05") == 0
    state = output.with_name(output.name + ".state.pt")
    before = state.read_bytes()
    assert _tune(tmp_path, weights, output, "--resume", "--steps", "3", "--lr", "0.5") == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "cannot resume" in line and "tune.lr: 0.05 -> 0.5" in line
    torch.manual_seed(1)
    other = save_model(build_seggpt(get_preset("seggpt-test")), tmp_path / "other.safetensors")
    assert _tune(tmp_path, other, output, "--resume", "--steps", "3", "--lr", "0.05") == 2
    assert "model.fingerprint" in capsys.readouterr().err
    assert state.read_bytes() == before
    assert _tune(tmp_path, weights, output, "--resume", "--steps", "3", "--lr", "0.05", "--save-every", "3") == 0
    (tmp_path / "data" / "masks" / "0.png").write_bytes((tmp_path / "data" / "masks" / "1.png").read_bytes())
    assert _tune(tmp_path, weights, output, "--resume", "--steps", "4", "--lr", "0.05") == 2
    assert "data.files" in capsys.readouterr().err


def test_convert_with_a_config_that_is_not_json_text_names_it(tmp_path, weights, capsys):
    config = tmp_path / "config.json"
    config.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert main(["convert", str(weights), str(tmp_path / "out.safetensors"), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and str(config) in err, err


def test_tune_output_over_a_dataset_file_is_refused(tmp_path, weights, capsys):
    make_folder(tmp_path / "data")
    mask = tmp_path / "data" / "masks" / "0.png"
    before = mask.read_bytes()
    assert _tune(tmp_path, weights, mask, "--steps", "1") == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert mask.read_bytes() == before


@pytest.mark.parametrize(
    ("option", "value"), [("--warmup-steps", "-1"), ("--save-every", "-1"), ("--seed", "-1"), ("--lr", "-1")]
)
def test_tune_negative_numbers_are_refused_naming_the_setting(tmp_path, weights, capsys, option, value):
    assert _tune(tmp_path, weights, tmp_path / "prompt.safetensors", "--steps", "1", option, value) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert option.lstrip("-").replace("-", "_") in line, line
    assert not (tmp_path / "prompt.safetensors").exists()


def test_outputs_over_a_transformers_folders_files_are_refused(tmp_path, weights, capsys):
    """A --model folder (transformers layout) is an input as much as a file: its weights and config.json."""
    import json

    from safetensors.torch import save_file

    from seggpt import load_model
    from seggpt.model.hub import config_to_hf, official_to_hf

    model = load_model(weights)
    folder = tmp_path / "hf"
    folder.mkdir()
    save_file({k: v.contiguous() for k, v in official_to_hf(model.state_dict()).items()}, folder / "model.safetensors")
    (folder / "config.json").write_text(json.dumps(config_to_hf(model.config)))
    before = (folder / "model.safetensors").read_bytes()
    assert main(["convert", str(folder), str(folder / "model.safetensors")]) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert _tune(tmp_path, folder, folder / "config.json") == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert (folder / "model.safetensors").read_bytes() == before
