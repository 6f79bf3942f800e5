"""DAVIS reading and J&F scoring (model-free), the `seggpt eval vos --results` CLI, and the real data sanity check."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seggpt.cli.main import main
from seggpt.data.davis import davis_sequences, read_davis_annotation
from seggpt.evaluation.vos import score_frames, score_sequence, summarize

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _png(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(labels.astype(np.uint8)).save(path)


def _make_davis(root: Path, num_frames: int = 5, value: int = 255) -> list[np.ndarray]:
    """A one-sequence DAVIS layout 'toy' at 480p: a square moving right by 2 px a frame."""
    masks = []
    for t in range(num_frames):
        mask = np.zeros((24, 32), dtype=np.uint8)
        mask[6:16, 4 + 2 * t : 14 + 2 * t] = value
        masks.append(mask)
        _png(root / "Annotations" / "480p" / "toy" / f"{t:05d}.png", mask)
        image = np.full((24, 32, 3), 40, dtype=np.uint8)
        image[mask > 0] = 200
        (root / "JPEGImages" / "480p" / "toy").mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(root / "JPEGImages" / "480p" / "toy" / f"{t:05d}.jpg")
    return masks


def test_2016_and_2017_encodings(tmp_path: Path) -> None:
    _make_davis(tmp_path)
    (sequence,) = davis_sequences(tmp_path)
    assert sequence.year == 2016 and len(sequence.frames) == 5
    labels, void = read_davis_annotation(sequence.annotations[0], 2016)
    assert set(np.unique(labels).tolist()) == {0, 1} and not void.any()
    labels, void = read_davis_annotation(sequence.annotations[0], 2017)  # as 2017, 255 is void
    assert not labels.any() and void.sum() == 100


def test_score_frames_by_hand() -> None:
    target = np.zeros((1, 6, 6), dtype=np.int64)
    target[0, 1:3, 1:3] = 1
    pred = np.zeros_like(target)
    pred[0, 1:3, 1:2] = 1  # half of the object
    j, f = score_frames(list(target), [np.zeros((6, 6), bool)], list(pred), num_objects=1)
    assert j[0, 0] == pytest.approx(0.5)
    assert 0 < f[0, 0] <= 1  # at 6x6 the tolerance is 1 px: the boundaries are within reach
    with pytest.raises(ValueError, match="predicted object id 2"):
        score_frames(list(target), [np.zeros((6, 6), bool)], list(pred * 2), num_objects=1)


def test_score_sequence_truth_and_shifted_results(tmp_path: Path) -> None:
    masks = _make_davis(tmp_path / "davis")
    (sequence,) = davis_sequences(tmp_path / "davis")
    (perfect,) = score_sequence(sequence, tmp_path / "davis" / "Annotations" / "480p")
    assert (perfect.j.mean, perfect.f.mean, perfect.j.recall) == (1.0, 1.0, 1.0)
    for t in range(5):  # the first mask pasted on every frame: overlap shrinks 10 -> 8 -> 6 columns
        _png(tmp_path / "res" / "toy" / f"{t:05d}.png", (masks[0] > 0).astype(np.uint8))
    (pasted,) = score_sequence(sequence, tmp_path / "res")
    # scored frames 1..3 (first and last left out): IoU = 8/12, 6/14, 4/16
    assert pasted.j.mean == pytest.approx(np.mean([8 / 12, 6 / 14, 4 / 16]))
    assert pasted.j.recall == pytest.approx(1 / 3)
    assert summarize([pasted])["J&F-Mean"] == pytest.approx((pasted.j.mean + pasted.f.mean) / 2)
    (tmp_path / "res" / "toy" / "00002.png").unlink()
    with pytest.raises(FileNotFoundError, match=r"00002\.png"):
        score_sequence(sequence, tmp_path / "res")


def test_cli_scores_results_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _make_davis(tmp_path / "davis")
    truth = str(tmp_path / "davis" / "Annotations" / "480p")
    args = ["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--results", truth, "--output", str(tmp_path / "o")]
    assert main(args) == 0
    report = json.loads((tmp_path / "o" / "vos.json").read_text())
    assert report["overall"]["J&F-Mean"] == 1.0 and report["objects"][0]["sequence"] == "toy"
    assert "toy_1" in capsys.readouterr().out
    assert main([*args, "--submission-zip", str(tmp_path / "sub.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "sub.zip") as archive:
        assert sorted(archive.namelist())[:2] == ["Annotations/toy/00000.png", "Annotations/toy/00001.png"]
    records = (tmp_path / "o" / "items.jsonl").read_text()
    assert main(args) == 0 and (tmp_path / "o" / "items.jsonl").read_text() == records  # resumed, not rescored
    capsys.readouterr()
    edited = tmp_path / "edited"  # a results folder whose frames are rewritten between two runs
    shutil.copytree(truth, edited)
    edited_args = [*args[:-4], "--results", str(edited), "--output", str(tmp_path / "e")]
    assert main(edited_args) == 0 and json.loads((tmp_path / "e" / "vos.json").read_text())["overall"]["J&F-Mean"] == 1
    _png(edited / "toy" / "00002.png", np.zeros((24, 32), dtype=np.uint8))  # the object lost in a scored frame
    assert main(edited_args) == 0
    assert json.loads((tmp_path / "e" / "vos.json").read_text())["overall"]["J&F-Mean"] < 0.9  # scored again
    other = [*args[:-4], "--results", str(edited), "--output", str(tmp_path / "o")]
    assert main(other) == 2
    assert "other settings (results)" in capsys.readouterr().err
    assert main(["eval", "vos", "--davis-root", str(tmp_path / "davis"), "--output", str(tmp_path / "p")]) == 2


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "davis2016").is_dir(), reason="needs ../shared/data/davis2016")
def test_real_davis_truth_scores_one_and_pasted_first_mask_does_not(tmp_path: Path) -> None:
    (sequence,) = davis_sequences(DATA / "davis2016", "240p", ["bear"])
    (truth,) = score_sequence(sequence, DATA / "davis2016" / "Annotations" / "240p")
    assert truth.j.mean == 1.0 and truth.f.mean == 1.0
    first = np.asarray(Image.open(sequence.annotations[0])) > 0
    for path in sequence.annotations:
        _png(tmp_path / "bear" / path.name, first.astype(np.uint8))
    (pasted,) = score_sequence(sequence, tmp_path)
    jf = summarize([pasted])["J&F-Mean"]
    assert 0.2 < jf < 0.9, jf
