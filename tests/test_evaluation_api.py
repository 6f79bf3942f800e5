"""The evaluation runners as a library (options in, `Outcome` out) and the few-shot layout registry."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seggpt.cli.main import main
from seggpt.data import FEWSHOT_LAYOUTS
from seggpt.data.fewshot import FewShotFiles, FewShotLayout
from seggpt.data.fss1000 import fss1000
from seggpt.evaluation.fewshot import FewShotOptions, run_fewshot
from seggpt.evaluation.runs import RunOptions, Source
from seggpt.evaluation.semantic import SemanticClasses, SemanticOptions, run_semantic
from seggpt.evaluation.vos import VosOptions, run_vos
from test_evaluation_runners import _make_fss, _make_semantic
from test_evaluation_vos import _make_davis


def test_fewshot_runner_returns_the_report_it_writes(tmp_path: Path) -> None:
    _make_fss(tmp_path / "fss", per_class=3)
    options = FewShotOptions("fss1000", FewShotFiles(root=tmp_path / "fss"), shots=2)
    outcome = run_fewshot(options, RunOptions(Source(baseline="paste"), tmp_path / "out"))
    assert outcome is not None and outcome.written == (tmp_path / "out" / "fewshot.json",)
    assert json.loads(outcome.written[0].read_text()) == outcome.report.to_json()
    fold = outcome.report.folds[0]
    assert fold.name == "fss1000" and fold.episodes == 6  # one episode per image, the FSS-1000 default
    # the masks are 8x9 bands moved down one row per image; the first support's band is pasted as the answer:
    # cat's supports are one row off (I 63, U 81 each), dog's two rows off twice (I 54, U 90) and one row once
    class_iou = fold.to_json()["class_iou"]
    assert class_iou == pytest.approx({"cat": 100 * 189 / 243, "dog": 100 * 171 / 261})
    assert outcome.report.table().splitlines()[0] == "fss1000, 2-shot"


def test_semantic_runner_scores_predictions_without_a_model(tmp_path: Path) -> None:
    _make_semantic(tmp_path, "val", 2)
    shutil.copytree(tmp_path / "valannot", tmp_path / "pred")  # the truth itself: every class present scores 1
    options = SemanticOptions(tmp_path / "val", tmp_path / "valannot", SemanticClasses(("a", "b", "c"), ignore_index=3))
    outcome = run_semantic(options, RunOptions(Source(predictions=tmp_path / "pred"), tmp_path / "out"))
    assert outcome is not None and outcome.report.miou == 1.0
    assert outcome.report.settings["num_classes"] == 3 and outcome.report.settings["model"] is None
    first = sorted((tmp_path / "pred").glob("*.png"))[0]  # one prediction rewritten: the rerun scores it again
    Image.fromarray(np.full(np.asarray(Image.open(first)).shape, 3, dtype=np.uint8)).save(first)  # all "none"
    again = run_semantic(options, RunOptions(Source(predictions=tmp_path / "pred"), tmp_path / "out"))
    assert again is not None and again.report.miou < 1.0


def test_exactly_one_source_is_named_in_one_line(tmp_path: Path) -> None:
    _make_davis(tmp_path / "davis")
    options = VosOptions(tmp_path / "davis")
    with pytest.raises(ValueError, match=r"^give exactly one of --model, --baseline, --results \(got 0\)$"):
        run_vos(options, RunOptions(Source(), tmp_path / "out"))
    both = Source(model="seggpt-default", baseline="paste")
    with pytest.raises(ValueError, match=r"exactly one of --model, --baseline \(got 2\)"):
        run_fewshot(FewShotOptions("fss1000", FewShotFiles(root=tmp_path)), RunOptions(both, tmp_path / "o"))
    assert not (tmp_path / "out").exists() and not (tmp_path / "o").exists()


def test_bad_fewshot_inputs_are_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["eval", "fewshot", "--baseline", "paste", "--output", str(tmp_path / "out")]
    cases = [
        (["--dataset", "fss1000"], "fss1000 needs --root DIR"),
        (["--dataset", "coco20i", "--coco-images", str(tmp_path)], "coco20i needs --coco-annotations JSON"),
        (["--dataset", "fss1000", "--root", str(tmp_path), "--episodes", "0"], "--episodes must be at least 1"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    with pytest.raises(ValueError, match="unknown few-shot dataset 'fss2000'; known: fss1000, pascal5i, coco20i"):
        FewShotOptions("fss2000", FewShotFiles())


def test_tuned_prompt_with_a_predictions_folder_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _make_semantic(tmp_path, "val", 1)
    args = ["eval", "semantic", "--images", str(tmp_path / "val"), "--labels", str(tmp_path / "valannot")]
    args += ["--num-classes", "3", "--predictions", str(tmp_path / "valannot"), "--tuned-prompt", str(tmp_path / "x")]
    assert main([*args, "--output", str(tmp_path / "out")]) == 2
    assert "--tuned-prompt needs --model" in capsys.readouterr().err


def test_a_new_fewshot_layout_is_one_registry_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _make_fss(tmp_path / "fss", per_class=3)

    def toy(files: FewShotFiles, fold: int) -> object:  # FSS-1000 files, one dataset per fold
        return dataclasses.replace(fss1000(files.need_root("toy")), name=f"toy-fold{fold}")

    monkeypatch.setitem(FEWSHOT_LAYOUTS, "toy", FewShotLayout(toy, folds=True, default_episodes=4))  # type: ignore[arg-type]
    out = tmp_path / "out"
    args = ["eval", "fewshot", "--dataset", "toy", "--root", str(tmp_path / "fss"), "--folds", "1", "3"]
    assert main([*args, "--baseline", "paste", "--output", str(out)]) == 0
    folds = json.loads((out / "fewshot.json").read_text())["folds"]
    assert list(folds) == ["toy-fold1", "toy-fold3"] and folds["toy-fold3"]["episodes"] == 4
    assert len((out / "toy-fold1" / "items.jsonl").read_text().splitlines()) == 4
