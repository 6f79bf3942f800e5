"""Training config: YAML + --set overrides, type checks, clear errors; the `seggpt train` CLI front."""

from __future__ import annotations

from pathlib import Path

import pytest

from seggpt.cli.main import main
from seggpt.training.config import TrainConfig, config_from_dict, load_config

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "configs" / "train_tiny_camvid_davis.yaml"


def test_yaml_and_overrides(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("model: {preset: seggpt-test}\noptim: {lr: 1}\nrun: {steps: 5, batch_size: 4}\n")
    config = load_config(
        path,
        [
            "run.steps=7",
            "data.camvid_root=/x/camvid",
            "data.crop_scale=[0.5, 1]",
            "data.weights={camvid: 2}",
            "model.init=null",
            "run.precision=bf16",
        ],
    )
    assert isinstance(config, TrainConfig)
    assert config.model.preset == "seggpt-test" and config.run.steps == 7 and config.run.batch_size == 4
    assert config.optim.lr == 1.0 and isinstance(config.optim.lr, float)  # int -> float
    assert config.data.camvid_root == "/x/camvid" and config.data.crop_scale == (0.5, 1.0)
    assert config.data.weights == {"camvid": 2.0} and config.run.precision == "bf16"
    assert config_from_dict(config.to_dict()) == config  # round trip
    with pytest.raises(AttributeError):
        config.run.steps = 3  # type: ignore[misc]  # frozen


def test_example_config_loads() -> None:
    config = load_config(EXAMPLE, ["data.camvid_root=a", "data.davis_root=b"])
    assert config.model.preset == "seggpt-vit-tiny" and config.data.davis_resolution == "240p"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("run.stpes=3", "run.stpes"),
        ("nope.steps=3", "nope"),
        ("run.steps=three", "run.steps must be int"),
        ("run.steps=true", "run.steps must be int"),
        ("run.precision=fp16", "run.precision must be one of"),
        ("data.crop_scale=[0.5]", "data.crop_scale must be a list of 2"),
        ("run.steps", "section.key=value"),
        ("steps=3", "section.key"),
        ("run.batch_size=6", "multiple of run.accumulation"),
        ("optim.layer_decay=0", "layer_decay"),
    ],
)
def test_bad_keys_and_values_error_clearly(override: str, message: str) -> None:
    extra = ["run.accumulation=4"] if "batch_size" in override else []
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(".", r"\.")):
        config_from_dict({}, [*extra, override])


def test_bad_yaml_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing\.yaml"):
        load_config(tmp_path / "missing.yaml")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ValueError, match="mapping of sections"):
        load_config(tmp_path / "list.yaml")


def test_cli_help_print_config_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "seggpt train configs/train_tiny_camvid_davis.yaml" in capsys.readouterr().out
    assert main(["train", str(EXAMPLE), "--set", "run.steps=3", "--print-config"]) == 0
    assert "steps: 3" in capsys.readouterr().out
    assert main(["train", str(EXAMPLE), "--set", "run.bogus=1"]) == 2
    assert "run.bogus" in capsys.readouterr().err
    assert main(["train", "--set", "data.synthetic=false", "--set", "run.device=cpu"]) == 2
    assert "no training data" in capsys.readouterr().err
