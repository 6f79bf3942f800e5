"""`seggpt train` and checkpoints against careless input: a finished run is never overwritten by accident, a
resume with a changed config is refused (safe changes allowed), a NaN loss stops the run, bad weights are refused."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from seggpt import build_seggpt, get_preset, load_model, save_model
from seggpt.cli.main import main
from seggpt.model.seggpt import SegGPT
from seggpt.training.state import load_state


def _train(out: Path, *overrides: str) -> int:
    base = ["model.preset=seggpt-test", "run.device=cpu", "run.progress=false", "run.tensorboard=false",
            f"run.output_dir={out}", "run.batch_size=2", "run.steps=2", "optim.warmup_steps=1",
            "data.synthetic_scenes=8", "data.eval_source=none", "run.log_every=1"]  # fmt: skip
    return main(["train", *(a for o in [*base, *overrides] for a in ("--set", o))])


def _last_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


def _snapshot(out: Path) -> dict[str, bytes]:
    return {name: (out / name).read_bytes() for name in ("log.csv", "last.pt", "model.safetensors")}


def test_a_finished_run_is_not_overwritten_without_resume_or_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out) == 0
    before = _snapshot(out)
    assert _train(out, "optim.lr=0.001") == 2
    line = _last_error(capsys)
    assert "already holds a run" in line and "run.resume=auto" in line and "run.overwrite=true" in line
    assert _snapshot(out) == before
    assert _train(out, "run.overwrite=true", "run.steps=3") == 0  # on purpose: replaced
    assert (out / "log.csv").read_text().splitlines()[-1].startswith("3,")


def test_resume_refuses_exactness_breaking_changes_and_allows_more_steps(tmp_path, capsys):
    out = tmp_path / "run"
    assert _train(out) == 0
    before = _snapshot(out)
    assert _train(out, "run.resume=auto", "optim.lr=0.001", "run.batch_size=4") == 2
    line = _last_error(capsys)
    assert "break an exact resume" in line and "optim.lr: 0.0001 -> 0.001" in line and "run.batch_size: 2 -> 4" in line
    assert _snapshot(out) == before
    assert _train(out, "run.resume=auto", "run.steps=3") == 0  # more steps: a documented safe change
    assert load_state(out / "last.pt").step == 3


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    real_loss = SegGPT.loss
    calls = {"n": 0}

    def loss_that_diverges(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        value = real_loss(self, *args, **kwargs)
        return value * math.nan if calls["n"] >= 3 else value

    monkeypatch.setattr(SegGPT, "loss", loss_that_diverges)
    out = tmp_path / "run"
    assert _train(out, "run.steps=5", "run.save_every=2") == 2
    line = _last_error(capsys)
    assert "step 3: the loss is nan (not finite)" in line and f"last good checkpoint is {out / 'last.pt'}" in line
    state = load_state(out / "last.pt")
    assert state.step == 2 and all(torch.isfinite(v).all() for v in state.model.values())
    assert not (out / "model.safetensors").exists()


@pytest.mark.parametrize("kind", ["nan", "int32"])
def test_checkpoint_with_bad_weights_is_refused(tmp_path, kind):
    torch.manual_seed(0)
    path = save_model(build_seggpt(get_preset("seggpt-test")), tmp_path / "model.safetensors")
    tensors = load_file(path)
    key = "decoder_embed.weight"
    tensors[key] = tensors[key] * math.nan if kind == "nan" else tensors[key].to(torch.int32)
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    save_file(tensors, path, metadata=metadata)
    expected = "NaN or infinite" if kind == "nan" else "not floating point"
    with pytest.raises(ValueError, match=expected):
        load_model(path)


class _Payload:
    """Pickles as a call to `exec`: loading it with pickle would run code."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (exec, ("raise SystemExit('the pickle ran')",))


def test_resume_file_with_pickled_code_or_garbage_is_one_line(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    for content in ("pickle", "truncated"):
        if content == "pickle":
            torch.save({"format": "seggpt-train-state-1", "model": _Payload()}, out / "last.pt")
        else:
            (out / "last.pt").write_bytes(b"PK\x03\x04" + b"\x00" * 40)
        assert _train(out, "run.resume=auto") == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert str(out / "last.pt") in err


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("optim.loss_beta=-1", "optim.loss_beta"),  # was a RuntimeError traceback from smooth_l1_loss
        ("run.seed=-1", "run.seed"),  # was 'expected non-negative integer', naming no key
        ("run.num_workers=-1", "run.num_workers"),
        ("optim.betas=[1.5, 0.9]", "optim.betas"),
        ("optim.weight_decay=-0.1", "optim.weight_decay"),  # was accepted: a negative decay grows the weights
        ("run.save_every=-5", "run.save_every"),
        ("data.flip_prob=2", "data.flip_prob"),
    ],
)
def test_out_of_range_config_values_are_refused_before_the_run_folder(tmp_path, capsys, override, key):
    """Refused with the key named, before output_dir holds a log.csv that would block the corrected command."""
    out = tmp_path / "run"
    assert _train(out, override) == 2
    line = _last_error(capsys)
    assert "invalid training config" in line and key in line
    assert not out.exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"run:\n  steps: !!python/object/apply:os.system ['echo hi']\n", ["line 2", "python/object/apply"]),
        (b"run:\n  steps: [1, 2\n", ["line 3", "expected ',' or ']'"]),
        (b"run:\n  steps: \xff\xfe\n", ["not UTF-8 text"]),
    ],
    ids=["python tag", "unclosed list", "not utf-8"],
)
def test_unreadable_config_file_is_one_line_naming_it(tmp_path, capsys, content, words):
    config = tmp_path / "config.yaml"
    config.write_bytes(content)
    assert main(["train", str(config), "--set", f"run.output_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert str(config) in err and all(word in err for word in words), err
    assert main(["train", "--set", "run.steps=[1", "--set", f"run.output_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "run.steps=[1" in err, err


def test_replacing_a_run_never_replaces_the_checkpoint_it_starts_from(tmp_path, capsys):
    """`run.overwrite=true` replaces the run's files, but not when one of them is the model.init it starts from."""
    out = tmp_path / "run"
    assert _train(out) == 0
    before = (out / "model.safetensors").read_bytes()
    assert _train(out, "run.overwrite=true", f"model.init={out / 'model.safetensors'}") == 2
    assert "would overwrite the input" in _last_error(capsys)
    assert (out / "model.safetensors").read_bytes() == before
