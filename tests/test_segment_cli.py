"""`seggpt segment` end to end on small generated files, with a random-weight seggpt-test checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seggpt import build_seggpt, get_preset, save_model
from seggpt.cli.main import main


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_model(build_seggpt(get_preset("seggpt-test")), tmp_path_factory.mktemp("model") / "test.safetensors")


def _write_image(path: Path, size: tuple[int, int], seed: int) -> Path:
    rgb = np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def _write_mask(path: Path, size: tuple[int, int], value: int = 255) -> Path:
    mask = np.zeros(size, np.uint8)
    mask[size[0] // 4 : size[0] // 2, size[1] // 3 :] = value
    Image.fromarray(mask).save(path)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    inputs = tmp_path / "in"
    inputs.mkdir()
    for i, size in enumerate([(30, 40), (25, 25), (40, 18)]):
        _write_image(inputs / f"q{i}.png", size, seed=i + 10)
    (inputs / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    return {
        "image": _write_image(tmp_path / "p.jpg", (36, 28), seed=1),
        "mask": _write_mask(tmp_path / "p_mask.png", (36, 28)),
        "inputs": inputs,
        "out": tmp_path / "out",
    }


def _run(files: dict[str, Path], model: Path, *extra: str) -> int:
    argv = [
        "segment",
        "--prompt",
        str(files["image"]),
        str(files["mask"]),
        "--output",
        str(files["out"]),
        "--model",
        str(model),
        *extra,
    ]
    return main(argv)


def test_folder_end_to_end_then_skip_existing(files: dict, checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    code = _run(
        files, checkpoint, "--input", str(files["inputs"]), "--format", "label,mask,overlay,rle", "--batch-size", "2"
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "3 written, 0 skipped (existing), 1 failed (unreadable)" in captured.out
    assert "warning: skipping" in captured.err and "broken.jpg" in captured.err
    out = files["out"]
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [".seggpt-segment.json"]  # the settings of the run, for --skip-existing
        + [f"q{i}{suffix}" for i in range(3) for suffix in (".png", "_mask_1.png", "_overlay.png", ".json")]
    )
    with Image.open(out / "q0.png") as label, Image.open(out / "q0_mask_1.png") as mask:
        assert label.mode == "P" and label.size == (40, 30) and set(np.unique(np.asarray(label))) <= {0, 1}
        np.testing.assert_array_equal(np.asarray(mask) == 255, np.asarray(label) == 1)
    data = json.loads((out / "q2.json").read_text())
    assert (data["height"], data["width"], data["file_name"]) == (40, 18, "q2.png")
    code = _run(
        files, checkpoint, "--input", str(files["inputs"]), "--format", "label,mask,overlay,rle", "--skip-existing"
    )
    assert code == 0 and "0 written, 3 skipped (existing), 1 failed" in capsys.readouterr().out


def test_glob_and_options(files: dict, checkpoint: Path, capsys: pytest.CaptureFixture) -> None:
    code = _run(
        files,
        checkpoint,
        "--input",
        str(files["inputs"] / "q*.png"),
        "--ensemble",
        "spatial",
        "--type",
        "semantic",
        "--resize",
        "pad",
        "--upsample",
        "bilinear",
        "--dtype",
        "bf16",
    )
    assert code == 0 and "3 written, 0 skipped (existing), 0 failed" in capsys.readouterr().out
    with Image.open(files["out"] / "q2.png") as label:
        assert label.size == (18, 40)


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("named-unreadable", "broken.jpg as an image"),
        ("empty-glob", "matched no files"),
        ("missing-input", "no such file or folder"),
        ("missing-model", "no checkpoint file or folder"),
        ("mask-size", "p_mask.png: mask size"),
        ("empty-mask", "p_mask.png: the prompt mask is empty"),
        ("format", "--format"),
        ("same-name", "would write the same outputs"),
    ],
)
def test_bad_input_is_one_clear_line_and_no_output(
    files: dict, checkpoint: Path, capsys: pytest.CaptureFixture, case: str, message: str
) -> None:
    args = ["--input", str(files["inputs"] / "q0.png")]
    model = checkpoint
    if case == "named-unreadable":
        args = ["--input", str(files["inputs"] / "q0.png"), str(files["inputs"] / "broken.jpg")]
    elif case == "empty-glob":
        args = ["--input", str(files["inputs"] / "*.tiff")]
    elif case == "missing-input":
        args = ["--input", str(files["inputs"] / "nope.png")]
    elif case == "missing-model":
        model = files["out"].parent / "missing.safetensors"
    elif case == "mask-size":
        _write_mask(files["mask"], (20, 28))
    elif case == "empty-mask":
        _write_mask(files["mask"], (36, 28), value=0)
    elif case == "same-name":
        (files["out"].parent / "other").mkdir()
        twin = _write_image(files["out"].parent / "other" / "q0.jpg", (20, 20), seed=3)
        args += [str(twin)]
    elif case == "format":
        args += ["--format", "label,jpeg"]
    code = _run(files, model, *args)
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("seggpt segment: error:")]
    assert code == 2 and len(error_lines) == 1 and message in error_lines[0], err
    assert not files["out"].exists() or not any(files["out"].iterdir())


def test_every_option_of_every_command_has_a_help_text() -> None:
    """`seggpt video --seg-type`, `eval ... --seed` and others once showed no text; video's --model read
    "... or seggpt-vit-large (seggpt-default)"."""
    import argparse

    from seggpt.cli.main import build_parser

    def options(parser: argparse.ArgumentParser, name: str) -> list[tuple[str, argparse.Action]]:
        found = []
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub, subparser in action.choices.items():
                    found += options(subparser, f"{name} {sub}")
            elif action.option_strings:
                found.append((name, action))
        return found

    found = options(build_parser(), "seggpt")
    assert len(found) > 100
    missing = [f"{name} {action.option_strings[0]}" for name, action in found if not action.help]
    assert missing == []
    model = next(a for name, a in found if name == "seggpt video" and "--model" in a.option_strings)
    assert "(the small embedded model, default)" in str(model.help) and "%(default)s" not in str(model.help)
    devices = {name: action.default for name, action in found if "--device" in action.option_strings}
    assert set(devices) >= {f"seggpt {c}" for c in ("segment", "video", "tune", "app", "eval vos", "eval semantic")}
    assert set(devices.values()) == {"auto"}  # one default for every command: the GPU when there is one


def test_auto_device_is_the_gpu_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from seggpt.safety import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == resolve_device(None) == "cpu"
    with pytest.raises(ValueError, match=r"--device cuda: no CUDA GPU is available here"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match=r"--device gpu0: not a device name"):
        resolve_device("gpu0")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == "cuda" and resolve_device("cpu") == "cpu"


def test_help_explains_every_option(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(["segment", "--help"])
    text = capsys.readouterr().out
    for option in (
        "--prompt",
        "--input",
        "--output",
        "--model",
        "--ensemble",
        "--format",
        "--type",
        "--device",
        "--dtype",
        "--resize",
        "--upsample",
        "--batch-size",
        "--skip-existing",
        "--ignore-value",
        "examples:",
    ):
        assert option in text
