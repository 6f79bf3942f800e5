"""The library behind the thin `segment` and `video` commands: `inference.batch` and `inference.video_run`.

Each call is checked on its own (no CLI): what `collect_inputs` expands, what `check_outputs` refuses, what
`segment_files` counts and writes, and that `run_video` writes every requested `VIDEO_OUTPUTS` entry or none.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seggpt import Segmenter, VideoSegmenter, build_seggpt, get_preset
from seggpt.cli.main import main
from seggpt.inference import (
    OUTPUTS,
    VIDEO_OUTPUTS,
    FirstMask,
    Frame,
    InputFile,
    check_outputs,
    collect_inputs,
    davis_palette,
    run_video,
    segment_files,
)
from seggpt.safety import OutputError


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_seggpt(get_preset("seggpt-test"))


def _image(path: Path, seed: int, size: tuple[int, int] = (24, 32)) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def test_collect_inputs_expands_files_folders_and_globs(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    b, a = _image(tmp_path / "d" / "b.png", 1), _image(tmp_path / "d" / "a.png", 2)
    (tmp_path / "d" / ".hidden.png").write_bytes(b"x")
    c = _image(tmp_path / "c.jpg", 3)
    assert collect_inputs([str(c), str(tmp_path / "d"), str(tmp_path / "d" / "*.png")]) == [
        InputFile(c, True),
        InputFile(a, False),
        InputFile(b, False),
    ]
    with pytest.raises(FileNotFoundError, match="no such file or folder"):
        collect_inputs([str(tmp_path / "missing.png")])
    with pytest.raises(ValueError, match="matched no files"):
        collect_inputs([str(tmp_path / "*.gif")])
    _image(tmp_path / "a.jpg", 4)
    with pytest.raises(ValueError, match="same outputs"):
        collect_inputs([str(tmp_path / "d"), str(tmp_path / "a.jpg")])


def test_check_outputs_refuses_inputs_and_id_named_clashes(tmp_path: Path) -> None:
    query = _image(tmp_path / "q.png", 0)
    check_outputs(tmp_path / "out", [query], list(OUTPUTS), protected=[])
    with pytest.raises(OutputError):  # the label output of q is q.png itself
        check_outputs(tmp_path, [query], ["label"], protected=[])
    clash = _image(tmp_path / "q_mask_3.png", 1)  # an input named like a mask output of q
    with pytest.raises(OutputError, match="both an output of"):
        check_outputs(tmp_path, [query, clash], ["mask"], protected=[])


def test_segment_files_counts_writes_skips_and_unreadable(tmp_path: Path, model: torch.nn.Module) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(3):
        _image(folder / f"q{i}.png", i)
    (folder / "broken.jpg").write_bytes(b"not an image")
    prompt, mask = _image(tmp_path / "p.png", 9), np.zeros((24, 32), np.uint8)
    mask[5:15, 8:20] = 1
    segmenter = Segmenter(model, batch_size=2)
    segmenter.set_prompts([prompt], [mask])
    out = tmp_path / "out"
    out.mkdir()
    seen: list[tuple[str, str | None]] = []
    inputs = collect_inputs([str(folder)])
    counts = segment_files(segmenter, inputs, out, ["label", "rle"], on_progress=lambda p, w: seen.append((p.name, w)))
    assert (counts.written, counts.skipped, counts.failed) == (3, 0, 1)
    names = ["q0.json", "q0.png", "q1.json", "q1.png", "q2.json", "q2.png"]
    assert sorted(p.name for p in out.iterdir()) == [".seggpt-segment.json", *names]  # + the run's settings
    assert len(seen) == 4 and [w is not None for n, w in seen if n == "broken.jpg"] == [True]
    again = segment_files(segmenter, collect_inputs([str(folder / "q1.png")]), out, ["label"], skip_existing=True)
    assert (again.written, again.skipped, again.failed) == (0, 1, 0)
    with pytest.raises(ValueError):  # a file given by name must be readable
        segment_files(segmenter, [InputFile(folder / "broken.jpg", True)], out, ["label"])


def _frames(count: int) -> list[Frame]:
    frames = []
    for t in range(count):
        rgb = np.zeros((24, 32, 3), np.uint8)
        rgb[6:14, 2 + 2 * t : 10 + 2 * t] = (230, 200, 40)
        frames.append(Frame(f"{t:05d}", rgb))
    return frames


def test_run_video_writes_every_requested_output_or_none(tmp_path: Path, model: torch.nn.Module) -> None:
    labels = np.zeros((24, 32), np.int64)
    labels[6:14, 2:10] = 1
    first = FirstMask(labels, davis_palette(), "first mask m.png")
    outputs = {"frames": tmp_path / "res", "overlay": tmp_path / "ov.mp4"}
    done: list[int] = []
    counts = run_video(
        VideoSegmenter(model, memory=2), _frames(4), first, outputs, fps=10, rle=True, on_frame=done.append
    )
    assert counts.frames == 4 and not counts.truncated and done == [1, 2, 3, 4]
    assert sorted(p.name for p in (tmp_path / "res").glob("*.png")) == [f"{t:05d}.png" for t in range(4)]
    assert (tmp_path / "res" / "masks_rle.json").is_file() and (tmp_path / "ov.mp4").stat().st_size > 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "res" / "00000.png")), labels)  # the prompt itself
    assert set(VIDEO_OUTPUTS) == {"frames", "overlay"}
    assert VIDEO_OUTPUTS["frames"].paths(tmp_path, ["a"]) == [tmp_path / "a.png", tmp_path / "masks_rle.json"]

    short = {"frames": tmp_path / "short", "overlay": tmp_path / "short.mp4"}
    with pytest.raises(ValueError, match=r"declares 6 frames but only 3 .*nothing was written"):
        run_video(VideoSegmenter(model), _frames(3), first, short, fps=10, declared=6, strict=True)
    assert not (tmp_path / "short").exists() and not (tmp_path / "short.mp4").exists()
    assert run_video(VideoSegmenter(model), _frames(3), first, short, fps=10, declared=6).truncated
    wrong = FirstMask(labels[:20], davis_palette(), "first mask m.png")
    with pytest.raises(ValueError, match=r"first mask m.png has size \(20, 32\), but the frames of v are \(24, 32\)"):
        run_video(VideoSegmenter(model), _frames(2), wrong, {"frames": tmp_path / "w"}, fps=10, video_name="v")
    assert not (tmp_path / "w").exists()


def test_app_dtype_offers_the_precisions_default_auto(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gradio")
    with pytest.raises(SystemExit):
        main(["app", "--help"])
    assert "--dtype {auto,fp32,bf16,fp16,int8}" in capsys.readouterr().out
    assert main(["app", "--device", "cpu", "--dtype", "fp16"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--dtype fp16" in err[0] and "GPU" in err[0]
