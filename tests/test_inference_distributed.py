"""`seggpt segment` and `seggpt eval` under torchrun: two gloo processes give what one process gives."""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from seggpt.cli.main import main
from seggpt.evaluation.cache import ResultCache
from seggpt.inference.shard import Shard

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "shapes"
PROMPTS = ["--prompt", str(EXAMPLES / "prompt_0.png"), str(EXAMPLES / "prompt_0_mask.png"),
           "--prompt", str(EXAMPLES / "prompt_1.png"), str(EXAMPLES / "prompt_1_mask.png")]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def worker(rank: int, world_size: int, port: int, argv: list[str], log: str) -> None:
    """One torchrun-like process: the environment torchrun sets, one thread, the CLI; stdout to `log`.<rank>."""
    if world_size > 1:
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank),
                          MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))  # fmt: skip
    torch.set_num_threads(1)
    import contextlib

    with open(f"{log}.{rank}", "w") as out, contextlib.redirect_stdout(out):
        code = main(argv)
    if code != 0:
        raise SystemExit(code)


def launch(world_size: int, argv: list[str], log: Path) -> list[str]:
    """Run the CLI in `world_size` spawned processes; return each rank's printed output."""
    mp.spawn(worker, args=(world_size, free_port(), argv, str(log)), nprocs=world_size, join=True)
    return [Path(f"{log}.{rank}").read_text() for rank in range(world_size)]


def test_shards_deal_whole_batches_round_robin() -> None:
    items = list(range(7))
    assert [Shard(r, 2).take(items) for r in range(2)] == [[0, 2, 4, 6], [1, 3, 5]]
    assert [Shard(r, 2).take(items, block=2) for r in range(2)] == [[0, 1, 4, 5], [2, 3, 6]]
    assert [Shard(r, 3).take(items, block=3) for r in range(3)] == [[0, 1, 2], [3, 4, 5], [6]]
    assert Shard().take(items, block=4) == items and Shard(1, 2).suffix == ".1-of-2" and Shard().suffix == ""
    assert Shard(1, 2, local_rank=1).device("cuda") == "cuda:1" and Shard().device("cuda") == "cuda"


def test_segment_two_processes_write_what_one_writes_and_resume(tmp_path: Path) -> None:
    args = ["segment", *PROMPTS, "--type", "semantic", "--input", str(EXAMPLES / "queries"),
            "--format", "label,rle", "--batch-size", "1", "--dtype", "fp32"]  # fmt: skip
    launch(1, [*args, "--output", str(tmp_path / "one")], tmp_path / "one.log")
    logs = launch(2, [*args, "--output", str(tmp_path / "two")], tmp_path / "two.log")
    assert "[rank 0 of 2]: 2 written" in logs[0] and "[rank 1 of 2]: 2 written" in logs[1]
    one = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert one == sorted(p.name for p in (tmp_path / "two").iterdir()) and len(one) == 9  # + .seggpt-segment.json
    for name in one:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    (tmp_path / "two" / "query_3.png").unlink()  # rank 1's (queries 1 and 3): only it is redone
    logs = launch(2, [*args, "--output", str(tmp_path / "two"), "--skip-existing"], tmp_path / "resume.log")
    assert "0 written, 2 skipped" in logs[0] and "1 written, 1 skipped" in logs[1]
    assert (tmp_path / "one" / "query_3.png").read_bytes() == (tmp_path / "two" / "query_3.png").read_bytes()


def _shapes_dataset(root: Path) -> None:
    """examples/shapes as a label-map dataset: the two prompts as the training split, the queries as val."""
    for i in range(2):
        (root / "train").mkdir(parents=True, exist_ok=True)
        (root / "trainannot").mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLES / f"prompt_{i}.png", root / "train" / f"p{i}.png")
        shutil.copy(EXAMPLES / f"prompt_{i}_mask.png", root / "trainannot" / f"p{i}.png")
    shutil.copytree(EXAMPLES / "queries", root / "val")
    shutil.copytree(EXAMPLES / "truth", root / "valannot")


def test_eval_semantic_two_processes_report_what_one_reports(tmp_path: Path) -> None:
    _shapes_dataset(tmp_path / "data")
    d = tmp_path / "data"
    args = ["eval", "semantic", "--images", str(d / "val"), "--labels", str(d / "valannot"),
            "--train-images", str(d / "train"), "--train-labels", str(d / "trainannot"), "--num-classes", "5",
            "--background-index", "0", "--num-prompts", "2", "--model", "seggpt-default",
            "--dtype", "fp32"]  # fmt: skip
    launch(1, [*args, "--output", str(tmp_path / "one")], tmp_path / "one.log")
    logs = launch(2, [*args, "--output", str(tmp_path / "two")], tmp_path / "two.log")
    assert "mIoU" in logs[0] and logs[1] == ""  # rank 0 reports, rank 1 only computes its shard
    one = json.loads((tmp_path / "one" / "semantic.json").read_text())
    two = json.loads((tmp_path / "two" / "semantic.json").read_text())
    assert one == two and one["mIoU"] is not None
    shard_files = sorted(p.name for p in (tmp_path / "two").glob("items*.jsonl"))
    assert shard_files == ["items.0-of-2.jsonl", "items.1-of-2.jsonl"]
    keys = [[json.loads(line)["key"] for line in (tmp_path / "two" / f).read_text().splitlines()] for f in shard_files]
    assert keys == [["query_0", "query_2"], ["query_1", "query_3"]]
    # resuming alone from the two shards' items recomputes nothing and reports the same
    cache = ResultCache(tmp_path / "two", json.loads((tmp_path / "two" / "run.json").read_text()))
    assert sorted(cache.items) == ["query_0", "query_1", "query_2", "query_3"]


def test_eval_no_resume_clears_every_shard(tmp_path: Path) -> None:
    _shapes_dataset(tmp_path / "data")
    d = tmp_path / "data"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "items.0-of-3.jsonl").write_text('{"key": "stale", "confusion": [1]}\n')
    args = ["eval", "semantic", "--images", str(d / "val"), "--labels", str(d / "valannot"),
            "--predictions", str(d / "valannot"), "--num-classes", "5", "--no-resume",
            "--output", str(tmp_path / "out")]  # fmt: skip
    launch(2, args, tmp_path / "log")
    assert not (tmp_path / "out" / "items.0-of-3.jsonl").exists()
    report = json.loads((tmp_path / "out" / "semantic.json").read_text())
    assert report["mIoU"] == pytest.approx(1.0)  # the truth scored against itself
