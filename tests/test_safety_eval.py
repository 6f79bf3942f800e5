"""`seggpt eval` caches against reuse across settings, corrupt cache lines, and outputs over inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seggpt import build_seggpt, get_preset, save_model
from seggpt.cli.main import main
from seggpt.evaluation import vos
from test_evaluation_vos import _make_davis


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    return save_model(build_seggpt(get_preset("seggpt-test")), tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def test_killed_model_run_is_not_scored_as_the_paste_baseline(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    masks = _make_davis(tmp_path / "davis", num_frames=4)
    out = tmp_path / "v"
    args = ["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--memory", "2", "--output", str(out)]

    def killed(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # the model run predicts every frame, then is killed before scoring
        patch.setattr(vos, "score_sequence", killed)
        assert main([*args, "--model", str(tiny_checkpoint)]) == 130
    assert (out / "toy" / "00003.png").is_file()
    assert main([*args, "--baseline", "paste"]) == 2
    assert "other settings (baseline, model, model_fingerprint)" in capsys.readouterr().err
    assert main([*args, "--baseline", "paste", "--no-resume"]) == 0  # afresh: the paste frames are predicted
    for t in range(4):
        assert (np.asarray(Image.open(out / "toy" / f"{t:05d}.png")) > 0).tolist() == (masks[0] > 0).tolist()


def test_retrained_model_in_the_same_path_is_not_resumed(tmp_path, capsys):
    _make_davis(tmp_path / "davis", num_frames=3)
    model = tmp_path / "model.safetensors"
    args = ["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--memory", "1", "--output", str(tmp_path / "v")]
    for seed in (0, 1):
        torch.manual_seed(seed)
        save_model(build_seggpt(get_preset("seggpt-test")), model)
        code = main([*args, "--model", str(model)])
    assert code == 2 and "model_fingerprint" in capsys.readouterr().err


def test_corrupt_cache_line_is_named_and_recomputed(tmp_path, capsys):
    _make_davis(tmp_path / "davis")
    truth = str(tmp_path / "davis" / "Annotations" / "480p")
    out = tmp_path / "o"
    args = ["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--results", truth, "--output", str(out)]
    assert main(args) == 0
    report = json.loads((out / "vos.json").read_text())["overall"]
    items = out / "items.jsonl"
    items.write_text(items.read_text()[:25] + "\n")  # a line cut short (disk full, killed writer)
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert f"{items} line 1 is corrupt" in err and "recomputed" in err
    assert json.loads((out / "vos.json").read_text())["overall"] == report
    assert json.loads(items.read_text().splitlines()[0])["key"] == "toy"


def test_vos_output_holding_the_inputs_is_refused(tmp_path, tiny_checkpoint, capsys):
    _make_davis(tmp_path / "davis", num_frames=3)
    annotations = tmp_path / "davis" / "Annotations" / "480p"
    before = sorted(p.read_bytes() for p in annotations.rglob("*.png"))
    args = ["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--output", str(annotations)]
    assert main([*args, "--model", str(tiny_checkpoint)]) == 2
    assert "holds the input" in capsys.readouterr().err
    assert sorted(p.read_bytes() for p in annotations.rglob("*.png")) == before


def test_vos_without_the_first_frame_is_its_own_run(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    """`--no-keep-first` reaches the video segmenter and is part of the run's settings (no mixing with K + first)."""
    from seggpt.inference.video import VideoSegmenter

    _make_davis(tmp_path / "davis", num_frames=4)
    args = ["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--memory", "1", "--model", str(tiny_checkpoint)]
    seen = []
    original = VideoSegmenter.__init__

    def spy(self, *a, **k):  # type: ignore[no-untyped-def]
        seen.append(k.get("keep_first"))
        original(self, *a, **k)

    monkeypatch.setattr(VideoSegmenter, "__init__", spy)
    assert main([*args, "--output", str(tmp_path / "v")]) == 0
    assert main([*args, "--no-keep-first", "--output", str(tmp_path / "v")]) == 2
    assert "other settings (keep_first)" in capsys.readouterr().err
    assert main([*args, "--no-keep-first", "--output", str(tmp_path / "w")]) == 0
    assert seen == [True, False, False]  # the refused run built its segmenter too: the model loads before run.json
    assert json.loads((tmp_path / "w" / "run.json").read_text())["keep_first"] is False
    assert "keep_first" not in json.loads((tmp_path / "v" / "run.json").read_text())  # earlier runs stay valid


def test_vos_memory_that_leaves_no_prompt_is_refused_before_any_output(tmp_path, tiny_checkpoint, capsys):
    _make_davis(tmp_path / "davis", num_frames=3)
    args = ["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--model", str(tiny_checkpoint)]
    assert main([*args, "--memory", "0", "--no-keep-first", "--output", str(tmp_path / "v")]) == 2
    assert "--memory must be >= 1 (or 0 with the first frame kept), got 0" in capsys.readouterr().err
    assert not (tmp_path / "v").exists()


def test_vos_with_an_unreadable_model_leaves_no_run_behind(tmp_path, tiny_checkpoint, capsys):
    """A bad --model is reported before run.json is written: the corrected command then runs in that folder."""
    _make_davis(tmp_path / "davis", num_frames=3)
    not_a_model = tmp_path / "notes.txt"
    not_a_model.write_text("not a checkpoint")
    args = ["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--memory", "1", "--output", str(tmp_path / "v")]
    assert main([*args, "--model", str(not_a_model)]) == 2
    assert "is not a checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "v" / "run.json").exists()
    assert main([*args, "--model", str(tiny_checkpoint)]) == 0


def test_scoring_missing_predictions_is_refused_before_run_json(tmp_path, capsys):
    """`--results` / `--predictions` lacking files: one line, and no run.json that would block the fixed command."""
    _make_davis(tmp_path / "davis", num_frames=3)
    (tmp_path / "empty").mkdir()
    vos_args = ["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--output", str(tmp_path / "v")]
    assert main([*vos_args, "--results", str(tmp_path / "empty")]) == 2
    assert "toy" in _last_line(capsys) and not (tmp_path / "v" / "run.json").exists()
    truth = tmp_path / "davis" / "Annotations" / "480p"
    assert main([*vos_args, "--results", str(truth)]) == 0

    images, labels = tmp_path / "images", tmp_path / "labels"
    images.mkdir()
    labels.mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(images / "a.png")
    Image.fromarray(np.ones((8, 8), np.uint8)).save(labels / "a.png")
    sem_args = ["eval", "semantic", "--images", str(images), "--labels", str(labels), "--num-classes", "3"]
    sem_args += ["--output", str(tmp_path / "s")]
    assert main([*sem_args, "--predictions", str(tmp_path / "empty")]) == 2
    assert "no prediction" in _last_line(capsys) and not (tmp_path / "s" / "run.json").exists()
    assert main([*sem_args, "--predictions", str(labels)]) == 0


def _last_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "content",
    [b"{}", b"[]", b"\xff\xfe{}", b'{"images": [{"id": 1}], "annotations": [], "categories": []}'],
    ids=["empty", "list", "not utf-8", "image without size"],
)
def test_coco_json_that_is_not_instances_is_one_line(tmp_path, capsys, content):
    from seggpt.data.coco import coco_instances

    annotations = tmp_path / "instances.json"
    annotations.write_bytes(content)
    args = ["eval", "fewshot", "--dataset", "coco20i", "--coco-annotations", str(annotations), "--coco-images"]
    assert main([*args, str(tmp_path), "--baseline", "paste", "--output", str(tmp_path / "out")]) == 2
    line = _last_line(capsys)
    assert str(annotations) in line and "COCO instances JSON" in line
    with pytest.raises(ValueError, match="COCO instances JSON"):  # training reads it with coco_instances
        coco_instances(annotations, tmp_path)


def test_submission_zip_over_an_input_is_refused_before_any_work(tmp_path, tiny_checkpoint, capsys):
    _make_davis(tmp_path / "davis", num_frames=3)
    annotation = tmp_path / "davis" / "Annotations" / "480p" / "toy" / "00000.png"
    before = annotation.read_bytes()
    args = ["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--output", str(tmp_path / "v")]
    truth = ["--results", str(annotation.parent.parent)]
    assert main([*args, *truth, "--submission-zip", str(annotation)]) == 2
    assert "would overwrite the input" in _last_line(capsys)
    assert annotation.read_bytes() == before and not (tmp_path / "v").exists()
    model = ["--model", str(tiny_checkpoint), "--memory", "1"]
    assert main([*args, *model, "--submission-zip", str(tiny_checkpoint)]) == 2
    assert "would overwrite the input" in _last_line(capsys)
    assert main([*args, *truth, "--submission-zip", str(tmp_path)]) == 2
    assert "is a folder" in _last_line(capsys)
