"""`seggpt video` against careless input: truncated videos, reused and foreign output folders, outputs over
inputs, and normal permissions for the results folder."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from seggpt.inference.video_io import davis_palette
from test_video_io import first_mask, make_frames, run_cli, save_p, tiny_checkpoint, write_video

__all__ = ["tiny_checkpoint"]  # the module-scoped checkpoint fixture, shared


def _truncated_video(tmp_path: Path, frames: int = 12) -> Path:
    whole = tmp_path / "whole.mp4"
    with av.open(str(whole), "w", options={"movflags": "faststart"}) as container:  # index first: still opens
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for t, rgb in enumerate(make_frames(frames)):  # noise: every frame costs about the same bytes
            rgb = np.maximum(rgb, np.random.default_rng(t).integers(0, 60, rgb.shape, dtype=np.uint8))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    cut = tmp_path / "cut.mp4"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    return cut


def test_truncated_video_warns_or_fails_with_strict(tmp_path, tiny_checkpoint, capsys):
    video = _truncated_video(tmp_path)
    mask = save_p(tmp_path / "mask.png", first_mask(), davis_palette())
    args = ["--input", video, "--first-mask", mask, "--model", tiny_checkpoint, "--memory", 1]
    assert run_cli(*args, "--output", tmp_path / "strict", "--strict") == 2
    assert "declares 12 frames but only" in capsys.readouterr().err
    assert not (tmp_path / "strict").exists()
    assert run_cli(*args, "--output", tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "warning" in err and "declares 12 frames but only" in err
    assert 0 < len(list((tmp_path / "out").glob("*.png"))) < 12


def test_reused_output_folder_holds_no_stale_frames(tmp_path, tiny_checkpoint):
    mask = save_p(tmp_path / "mask.png", first_mask(), davis_palette())
    out = tmp_path / "out"
    for num in (5, 3):
        video = write_video(tmp_path / f"clip{num}.mp4", make_frames(num))
        args = ["--input", video, "--first-mask", mask, "--output", out, "--model", tiny_checkpoint, "--memory", 1]
        assert run_cli(*args, "--rle") == 0
    assert sorted(p.name for p in out.glob("*.png")) == ["00000.png", "00001.png", "00002.png"]
    old = os.umask(0o022)
    try:
        fresh = tmp_path / "fresh"
        assert run_cli(*args[:-6], "--output", fresh, "--model", tiny_checkpoint) == 0
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o755  # not the 0700 of a temporary folder
    assert stat.S_IMODE((fresh / "00000.png").stat().st_mode) == 0o644


def test_output_folder_with_foreign_pngs_or_the_input_frames_is_refused(tmp_path, tiny_checkpoint, capsys):
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, rgb in enumerate(make_frames(3)):
        Image.fromarray(rgb).save(frames / f"{i:05d}.png")
    before = sorted(p.read_bytes() for p in frames.iterdir())
    mask = save_p(tmp_path / "mask.png", first_mask(), davis_palette())
    assert run_cli("--input", frames, "--first-mask", mask, "--output", frames, "--model", tiny_checkpoint) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert sorted(p.read_bytes() for p in frames.iterdir()) == before
    other = tmp_path / "other"
    other.mkdir()
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(other / "mine.png")
    assert run_cli("--input", frames, "--first-mask", mask, "--output", other, "--model", tiny_checkpoint) == 2
    assert "PNG files that seggpt did not write" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["mine.png"]


def test_output_folder_equal_to_a_jpeg_frames_folder_is_refused(tmp_path, tiny_checkpoint, capsys):
    """JPEG frames and PNG results have different names, but the results would be read as frames next time."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, rgb in enumerate(make_frames(3)):
        Image.fromarray(rgb).save(frames / f"{i:05d}.jpg")
    (tmp_path / "alias").symlink_to(frames)
    before = sorted(p.name for p in frames.iterdir())
    mask = save_p(tmp_path / "mask.png", first_mask(), davis_palette())
    for output in (frames, tmp_path / "alias"):
        args = ["--input", frames, "--first-mask", mask, "--output", output, "--model", tiny_checkpoint]
        assert run_cli(*args) == 2
        err = capsys.readouterr().err
        assert "holds the input" in err and "00000.jpg" in err and "Traceback" not in err
    assert sorted(p.name for p in frames.iterdir()) == before


def test_cuda_without_cuda_is_one_line_in_every_command(tmp_path, tiny_checkpoint, capsys, monkeypatch):
    from seggpt.cli.main import main
    from test_evaluation_vos import _make_davis

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    video = write_video(tmp_path / "clip.mp4", make_frames(2))
    mask = save_p(tmp_path / "mask.png", first_mask(), davis_palette())
    _make_davis(tmp_path / "davis", num_frames=3)
    commands = [
        ["video", "--input", video, "--first-mask", mask, "--output", tmp_path / "v", "--model", tiny_checkpoint],
        ["eval", "vos", "--davis-root", tmp_path / "davis", "--output", tmp_path / "e", "--model", tiny_checkpoint],
        ["train", "--set", "run.device=cuda", "--set", f"run.output_dir={tmp_path / 't'}"],
    ]
    for command in commands:
        assert main([*map(str, command), *(["--device", "cuda"] if command[0] != "train" else [])]) == 2, command
        err = capsys.readouterr().err
        assert "Traceback" not in err and "no CUDA GPU is available here" in err.strip().splitlines()[-1], command


def test_overlay_over_the_model_and_output_into_the_frames_folder_are_refused(tmp_path, tiny_checkpoint, capsys):
    """Checkpoints are told apart by content, so a model may be named `weights.mp4`: `--overlay` must not replace
    it; and `--output` equal to a folder of JPEG frames must not add PNG frames beside them (a rerun reads both)."""
    frames = tmp_path / "frames"
    frames.mkdir()
    for i, rgb in enumerate(make_frames(3)):
        Image.fromarray(rgb).save(frames / f"{i:05d}.jpg")
    mask = save_p(tmp_path / "mask.png", first_mask(), davis_palette())
    model = tmp_path / "weights.mp4"
    model.write_bytes(tiny_checkpoint.read_bytes())
    args = ["--input", frames, "--first-mask", mask, "--model", model]
    assert run_cli(*args, "--output", tmp_path / "out", "--overlay", model) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert model.read_bytes() == tiny_checkpoint.read_bytes()
    assert run_cli(*args, "--output", frames) == 2
    assert "holds the input" in capsys.readouterr().err
    assert sorted(p.name for p in frames.iterdir()) == ["00000.jpg", "00001.jpg", "00002.jpg"]


def test_results_manifest_never_removes_files_outside_the_folder(tmp_path, tiny_checkpoint):
    """The hidden manifest lists an earlier run's frames; a damaged or hostile one must not reach other files."""
    import json

    from seggpt.inference.video_outputs import ResultWriter

    out = tmp_path / "out"
    out.mkdir()
    victim, notes = tmp_path / "victim.txt", out / "notes.txt"
    victim.write_text("keep")
    notes.write_text("keep")
    (out / ResultWriter.MANIFEST).write_text(json.dumps({"files": ["../victim.txt", "notes.txt", str(victim)]}))
    mask = save_p(tmp_path / "mask.png", first_mask(), davis_palette())
    video = write_video(tmp_path / "clip.mp4", make_frames(2))
    assert run_cli("--input", video, "--first-mask", mask, "--output", out, "--model", tiny_checkpoint) == 0
    assert victim.read_text() == "keep" and notes.read_text() == "keep"
