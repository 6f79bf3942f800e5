"""The benchmark scripts run end to end on a tiny model (no timings asserted: only what they report is sane)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from seggpt import build_seggpt, get_preset, save_model
from seggpt.inference.precision import onednn_linear_available

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


@pytest.mark.parametrize(("prompts", "against", "dtype"), [(1, "folded", "fp32"), (3, "folded", "fp32"),
                                                      (3, "fresh-bias", "int8")])  # fmt: skip
def test_bench_attention_compares_the_same_arithmetic(
    tmp_path: Path, tiny_checkpoint: Path, prompts: int, against: str, dtype: str
) -> None:
    out = tmp_path / "attention.json"
    args = ["--model", tiny_checkpoint, "--prompts", prompts, "--repeats", 2, "--json", out]
    done = _script("bench_attention.py", *args, "--against", against, "--dtype", dtype)
    assert done.returncode == 0, done.stderr
    row = json.loads(out.read_text())
    assert row["prompts"] == prompts and row["dtype"] == dtype and row["mask_ms"] > 0 and row[f"{against}_ms"] > 0
    if against == "folded":
        assert 0 < row["max_abs_diff"] <= 1e-5  # two different computations of the same attention
    else:
        assert row["max_abs_diff"] == 0  # the same sums, written into a buffer or into new tensors
    assert f"as shipped {row['mask_ms']:.1f} ms, {against}" in done.stdout


@pytest.mark.skipif(not onednn_linear_available(), reason="this torch has no oneDNN Linear kernel")
def test_bench_linear_compares_onednn_with_blas_on_the_model_and_its_shapes(
    tmp_path: Path, tiny_checkpoint: Path
) -> None:
    out = tmp_path / "linear.json"
    done = _script("bench_linear.py", "--model", tiny_checkpoint, "--prompts", 3, "--repeats", 2, "--json", out)
    assert done.returncode == 0, done.stderr
    row = json.loads(out.read_text())
    assert row["prompts"] == 3 and row["onednn_ms"] > 0 and row["blas_ms"] > 0
    assert row["max_abs_diff"] <= 1e-5  # the same products, rounded differently
    assert f"onednn {row['onednn_ms']:.1f} ms, blas {row['blas_ms']:.1f} ms" in done.stdout
    done = _script("bench_linear.py", "--model", tiny_checkpoint, "--int8", "--repeats", 2, "--json", out)
    assert done.returncode == 0, done.stderr
    row = json.loads(out.read_text())
    assert row["shipped_ms"] > 0 and row["all_int8_ms"] > 0 and row["max_abs_diff"] > 0  # block 0 in fp32 or not
    done = _script("bench_linear.py", "--model", tiny_checkpoint, "--shapes", "--repeats", 2, "--json", out)
    assert done.returncode == 0, done.stderr
    shapes = json.loads(out.read_text())["shapes"]
    config = get_preset("seggpt-test")
    h, w = config.grid_size
    assert [s["shape"][0] for s in shapes] == [h * w] * 4 + [(h // 2 + 1) * w]  # 4 block layers, the decoder
    assert all(s["onednn_gflops"] > 0 and s["blas_gflops"] > 0 for s in shapes)


def test_int8_agreement_reports_the_labels_int8_keeps_on_the_example_scenes(tmp_path: Path) -> None:
    agreements = []
    for fp32_blocks in (0, 1):
        out = tmp_path / f"agreement_{fp32_blocks}.json"
        done = _script("int8_agreement.py", "--fp32-blocks", fp32_blocks, "--json", out)
        assert done.returncode == 0, done.stderr
        row = json.loads(out.read_text())
        assert row["fp32_blocks"] == fp32_blocks and set(row) == {"model", "threads", "fp32_blocks", "examples/shapes"}
        shapes = row["examples/shapes"]
        assert shapes["queries"] == 4 and 0.98 <= shapes["agreement"] < 1  # int8 rounds: some pixels differ
        assert f"{100 * shapes['agreement']:.2f}" in done.stdout
        agreements.append(shapes["agreement"])
    assert agreements[0] != agreements[1]  # the option reaches the runner Segmenter builds


def test_bench_pairs_times_the_training_stream_and_digests_it_the_same_way_twice(tmp_path: Path) -> None:
    rows = []
    for run in range(2):
        out = tmp_path / f"pairs_{run}.json"
        args = ["--set", "data.synthetic=true", "--set", "data.synthetic_scenes=20", "--pairs", 5, "--digest", 4]
        done = _script("bench_pairs.py", *args, "--json", out)
        assert done.returncode == 0, done.stderr
        rows.append(json.loads(out.read_text()))
        assert f"stream digest {rows[-1]['digest']} (first 4)" in done.stdout
    assert rows[0]["pairs_per_s"] > 0 and rows[0]["pairs"] == 5
    assert rows[0]["digest"] == rows[1]["digest"] and len(rows[0]["digest"]) == 16  # a seed-deterministic stream
    done = _script("bench_pairs.py", "--set", "data.synthetic=true", "--set", "data.synthetic_seed=1", "--pairs", 1)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "synthetic_seed" in done.stderr  # refused


def test_bench_model_compares_ours_with_transformers_on_the_same_weights(tmp_path: Path) -> None:
    out = tmp_path / "model.json"
    args = ["--device", "cpu", "--preset", "seggpt-test", "--dtypes", "fp32", "--batch", 1, "--warmup", 1]
    done = _script("bench_model.py", *args, "--repeats", 1, "--json", out)
    assert done.returncode == 0, done.stderr
    rows = {row["variant"]: row for row in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"ours", "transformers"} and all(row["ms"] > 0 for row in rows.values())
    assert rows["ours"]["max_abs_diff"] <= 1e-5 and rows["ours"]["speedup"] > 0  # the same model, two codes


def test_profile_model_reports_each_implementation(tmp_path: Path) -> None:
    out = tmp_path / "profile.json"
    args = ["--device", "cpu", "--preset", "seggpt-test", "--dtype", "fp32", "--batch", 1, "--warmup", 1]
    done = _script("profile_model.py", *args, "--repeats", 1, "--top", 4, "--json", out)
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())["results"]
    assert [r["variant"] for r in results] == ["ours", "transformers"]
    for result in results:
        assert result["wall_ms"] > 0 and 0 < len(result["top"]) <= 4
        assert all(0 < row["share"] <= 1 for row in result["top"])
    assert "ours:" in done.stdout and "transformers:" in done.stdout
