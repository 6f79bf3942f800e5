"""The benchmark scripts run end to end on a tiny model (no timings asserted: only what they report is sane)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seggpt import build_seggpt, get_preset, save_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_model(build_seggpt(get_preset("seggpt-test")), tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def _script(name: str, *args: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(ROOT / "benchmarks" / name), *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)


def test_bench_ensemble_reports_bit_identical_outputs(tmp_path: Path, tiny_checkpoint: Path) -> None:
    out = tmp_path / "ensemble.json"
    done = _script("bench_ensemble.py", "--model", tiny_checkpoint, "--prompts", "1,3", "--repeats", 2, "--json", out)
    assert done.returncode == 0, done.stderr
    rows = json.loads(out.read_text())
    assert [r["prompts"] for r in rows] == [1, 3]
    assert all(r["max_abs_diff"] <= 1e-5 and r["shared_query_ms"] > 0 for r in rows)  # the same arithmetic
    assert "3 prompts: canvas by canvas" in done.stdout


def test_bench_video_times_every_stage(tmp_path: Path, tiny_checkpoint: Path) -> None:
    out = tmp_path / "video.json"
    args = ["--model", tiny_checkpoint, "--num-frames", 3, "--warmup", 1, "--memory", 1, "--no-keep-first"]
    done = _script("bench_video.py", *args, "--json", out)
    assert done.returncode == 0, done.stderr
    row = json.loads(out.read_text())
    assert row["frames"] == 2 and row["keep_first"] is False and row["memory"] == 1
    assert all(row[f"{stage}_ms"] > 0 for stage in ("read", "step", "write")) and row["frames_per_s"] > 0


@pytest.mark.parametrize("prompts", [1, 3])
def test_bench_attention_compares_the_same_arithmetic(tmp_path: Path, tiny_checkpoint: Path, prompts: int) -> None:
    out = tmp_path / "attention.json"
    args = ["--model", tiny_checkpoint, "--prompts", prompts, "--repeats", 2, "--json", out]
    done = _script("bench_attention.py", *args)
    assert done.returncode == 0, done.stderr
    row = json.loads(out.read_text())
    assert row["prompts"] == prompts and row["mask_ms"] > 0 and row["folded_ms"] > 0
    assert 0 < row["max_abs_diff"] <= 1e-5  # two different computations of the same attention
    assert "bias as SDPA mask" in done.stdout
