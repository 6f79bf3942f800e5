"""`seggpt segment` against careless and hostile input: outputs never overwrite inputs, bombs and huge images,
name collisions, unwritable outputs, disk full, killed runs' litter, permissions and exit codes."""

from __future__ import annotations

import errno
import os
import signal
import stat
import subprocess
import sys
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


def _image(path: Path, size: tuple[int, int] = (24, 32), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def _mask(path: Path, size: tuple[int, int] = (24, 32)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    mask = np.zeros(size, np.uint8)
    mask[4:12, 8:20] = 255
    Image.fromarray(mask).save(path)
    return path


def _segment(checkpoint: Path, prompt: tuple[Path, Path], inputs: list[Path], output: Path, *extra: str) -> int:
    argv = ["segment", "--prompt", str(prompt[0]), str(prompt[1]), "--input", *map(str, inputs)]
    return main([*argv, "--output", str(output), "--model", str(checkpoint), *extra])


def _error(capsys: pytest.CaptureFixture[str]) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines, "no error line"
    assert "Traceback" not in "\n".join(lines)
    return lines[-1]


def test_output_folder_equal_to_input_folder_is_refused(tmp_path, checkpoint, capsys):
    folder = tmp_path / "photos"
    images = [_image(folder / f"q{i}.png", seed=i) for i in range(2)]
    before = [p.read_bytes() for p in images]
    prompt = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png"))
    assert _segment(checkpoint, prompt, [folder], folder) == 2
    assert "would overwrite the input" in _error(capsys)
    assert [p.read_bytes() for p in images] == before


def test_output_folder_equal_to_a_jpeg_input_folder_is_refused(tmp_path, checkpoint, capsys):
    """JPEG inputs write PNGs of other names, but the next run over the folder would read them as inputs."""
    folder = tmp_path / "photos"
    _image(folder / "q.jpg")
    (tmp_path / "alias").symlink_to(folder)
    prompt = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png"))
    for output in (folder, tmp_path / "alias"):
        assert _segment(checkpoint, prompt, [folder], output) == 2
        assert f"output folder {output} is the input folder {folder}" in _error(capsys)
    assert sorted(p.name for p in folder.iterdir()) == ["q.jpg"]
    assert _segment(checkpoint, prompt, [folder / "q.jpg"], folder) == 0  # a file named beside its output is fine
    assert (folder / "q.png").is_file()


def test_output_over_the_prompt_mask_is_refused(tmp_path, checkpoint, capsys):
    """`--prompt ds/imgs/p.png ds/masks/p.png --input ds/imgs --output ds/masks` must not overwrite p's mask."""
    image, mask = _image(tmp_path / "ds/imgs/p.png"), _mask(tmp_path / "ds/masks/p.png")
    _image(tmp_path / "ds/imgs/q.png", seed=3)
    before = mask.read_bytes()
    assert _segment(checkpoint, (image, mask), [tmp_path / "ds/imgs"], tmp_path / "ds/masks") == 2
    assert f"would overwrite the input {mask}" in _error(capsys)
    assert mask.read_bytes() == before and not (tmp_path / "ds/masks/q.png").exists()  # refused before any work


def test_mask_outputs_over_an_input_are_refused(tmp_path, checkpoint, capsys):
    out = tmp_path / "out"
    prompt = (_image(tmp_path / "p.jpg"), _mask(out / "a_mask_1.png"))
    assert _segment(checkpoint, prompt, [_image(tmp_path / "a.png")], out, "--format", "mask") == 2
    assert "would be both an output of" in _error(capsys)


@pytest.mark.parametrize(
    ("names", "formats"),
    [(["a.png", "a_overlay.jpg"], "label,overlay"), (["x.png", "x_mask_1.jpg"], "label,mask")],
    ids=["overlay", "mask"],
)
def test_output_name_collisions_across_formats_are_refused(tmp_path, checkpoint, capsys, names, formats):
    inputs = [_image(tmp_path / "in" / name, seed=i) for i, name in enumerate(names)]
    prompt = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png"))
    assert _segment(checkpoint, prompt, inputs, tmp_path / "out", "--format", formats) == 2
    assert "would be" in _error(capsys)
    assert not (tmp_path / "out").exists()


def test_decompression_bomb_in_a_folder_is_skipped_and_counted(tmp_path, checkpoint, capsys):
    folder = tmp_path / "in"
    _image(folder / "good.png")
    Image.new("1", (30000, 30000)).save(folder / "bomb.png")  # ~110 KB that would decode to 900 megapixels
    assert (folder / "bomb.png").stat().st_size < 1 << 20
    prompt = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png"))
    assert _segment(checkpoint, prompt, [folder], tmp_path / "out") == 0
    captured = capsys.readouterr()
    assert "1 written" in captured.out and "1 failed" in captured.out
    warning = next(line for line in captured.err.split("\r") if "skipping" in line)
    assert "bomb.png" in warning and "decompression bomb" in warning
    assert (tmp_path / "out" / "good.png").is_file()


def test_image_above_the_pixel_limit_is_refused_before_decoding(tmp_path, checkpoint, capsys, monkeypatch):
    big = _image(tmp_path / "big.png", size=(300, 400))
    monkeypatch.setenv("SEGGPT_MAX_PIXELS", "100000")
    prompt = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png"))
    assert _segment(checkpoint, prompt, [big], tmp_path / "out") == 2
    assert "is 400x300 = 0 megapixels, above the limit of 0 (SEGGPT_MAX_PIXELS)" in _error(capsys)


def test_jpeg_binary_mask_prompt_is_one_class(tmp_path, checkpoint):
    mask = np.zeros((48, 64), np.uint8)
    mask[8:30, 10:50] = 255
    Image.fromarray(mask).save(tmp_path / "m.jpg", quality=60)
    image = _image(tmp_path / "p.png", size=(48, 64))
    out = tmp_path / "out"
    code = _segment(checkpoint, (image, tmp_path / "m.jpg"), [_image(tmp_path / "q.png")], out, "--format", "mask")
    assert code == 0
    assert [p.name for p in sorted(out.iterdir())] == [".seggpt-segment.json", "q_mask_1.png"]  # one class, not 21


def test_everything_failed_or_nothing_found_exits_1(tmp_path, checkpoint, capsys):
    prompt = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png"))
    (tmp_path / "empty").mkdir()
    assert _segment(checkpoint, prompt, [tmp_path / "empty"], tmp_path / "out") == 1
    assert "no files found" in _error(capsys)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.jpg").write_bytes(b"not an image")
    assert _segment(checkpoint, prompt, [tmp_path / "broken"], tmp_path / "out") == 1
    assert "no image was segmented" in _error(capsys)


def test_output_that_is_a_file_or_read_only_is_one_line(tmp_path, checkpoint, capsys, monkeypatch):
    prompt = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png"))
    query = _image(tmp_path / "q.png")
    (tmp_path / "file").write_text("x")
    assert _segment(checkpoint, prompt, [query], tmp_path / "file" / "out") == 2
    assert "expected a folder" in _error(capsys)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    if os.geteuid() == 0:  # root may write anywhere: answer for the folder as the kernel would for a user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: Path(p) != locked and real_access(p, mode))
    assert _segment(checkpoint, prompt, [query], locked) == 2
    assert "not writable" in _error(capsys)


def test_disk_full_is_one_line_and_leaves_nothing(tmp_path, checkpoint, capsys, monkeypatch):
    def full(self, fp, format=None, **params):
        raise OSError(errno.ENOSPC, "No space left on device")

    prompt, query = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png")), _image(tmp_path / "q.png")
    monkeypatch.setattr(Image.Image, "save", full)
    out = tmp_path / "out"
    assert _segment(checkpoint, prompt, [query], out) == 2
    line = _error(capsys)
    assert "No space left on device" in line and str(out / "q.png") in line and "free some space" in line
    assert not list(out.iterdir())


def test_cuda_without_cuda_is_one_line(tmp_path, checkpoint, capsys, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    prompt = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png"))
    assert _segment(checkpoint, prompt, [_image(tmp_path / "q.png")], tmp_path / "out", "--device", "cuda") == 2
    assert "no CUDA GPU" in _error(capsys)


def _killed_writer(out: Path) -> Path:
    """Start a process that writes `out/q.png` atomically, SIGKILL it mid-write; returns the temp file it left."""
    code = (
        "import sys, time; from seggpt.atomic import atomic_write; "
        "atomic_write(sys.argv[1], lambda tmp: (tmp.write_bytes(b'half'), print(tmp, flush=True), time.sleep(60)))"
    )
    writer = subprocess.Popen([sys.executable, "-c", code, str(out / "q.png")], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    temp = Path(writer.stdout.readline().strip())
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert temp.exists()  # SIGKILL leaves it behind
    return temp


def test_killed_runs_temp_files_are_cleaned_and_outputs_have_normal_modes(tmp_path, checkpoint):
    from seggpt.atomic import TEMP_MARK

    out = tmp_path / "out"
    out.mkdir()
    litter = _killed_writer(out)
    mine = out / f".q.png{TEMP_MARK}{os.getpid()}-abc.png"  # a live process's temp file is not touched
    mine.write_bytes(b"busy")
    prompt = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png"))
    old = os.umask(0o022)
    try:
        assert _segment(checkpoint, prompt, [_image(tmp_path / "q.png")], out, "--format", "label,overlay") == 0
    finally:
        os.umask(old)
    assert not litter.exists() and mine.exists()
    for name in ("q.png", "q_overlay.png"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o644


def test_large_predictions_build_colour_and_confidence_only_when_used(tmp_path):
    from seggpt.inference.prediction import decode_colour_output
    from seggpt.inference.writers import write_label_png

    small = torch.zeros(3, 8, 8)
    small[:, :4] = 255.0  # top half white = class 1
    colours = np.array([[0, 0, 0], [255, 255, 255]], np.uint8)
    prediction = decode_colour_output(small, (3000, 2000), np.array([1]), colours)
    write_label_png(tmp_path / "labels.png", prediction)
    assert "colour" not in vars(prediction) and "confidence" not in vars(prediction)  # 96 MB never built
    assert (
        prediction.labels.shape == (3000, 2000)
        and prediction.labels[:1500].all()
        and not prediction.labels[1500:].any()
    )
    assert prediction.colour.shape == (3000, 2000, 3) and (prediction.confidence == 1).all()  # built on use


@pytest.mark.parametrize("damage", ["missing key", "bad json", "wrong shape", "nan", "seg type"])
def test_tuned_prompt_that_is_something_else_is_one_line(tmp_path, checkpoint, capsys, damage):
    from safetensors.torch import save_file

    from seggpt import load_model
    from seggpt.inference import TunedPrompt, save_tuned_prompt
    from seggpt.inference.tuned_prompt import model_fingerprint

    model = load_model(checkpoint)
    h, w = model.config.query_size
    good = TunedPrompt(torch.zeros(3, h, w), torch.zeros(3, h, w), [1], ["thing"], np.array([[255, 0, 0]], np.uint8),
                       True, "semantic", model.config.to_dict(), model_fingerprint(model))  # fmt: skip
    path = save_tuned_prompt(good, tmp_path / "tuned.safetensors")
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        metadata, tensors = dict(f.metadata()), {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    if damage == "missing key":
        del metadata["class_ids"]
    elif damage == "bad json":
        metadata["colours"] = "[1, 2"
    elif damage == "wrong shape":
        tensors = {k: v[:, :4, :4].contiguous() for k, v in tensors.items()}
    elif damage == "nan":
        tensors["prompt_target"] = tensors["prompt_target"] * float("nan")
    else:
        metadata["seg_type"] = "panoptic"
    save_file(tensors, path, metadata=metadata)
    argv = ["segment", "--tuned-prompt", str(path), "--input", str(_image(tmp_path / "q.png"))]
    assert main([*argv, "--output", str(tmp_path / "out"), "--model", str(checkpoint)]) == 2
    line = _error(capsys)
    assert str(path) in line and "tuned prompt" in line
    assert not (tmp_path / "out" / "q.png").exists()


def test_sigterm_mid_write_leaves_no_temporary_file(tmp_path, checkpoint):
    """`kill PID` (a scheduler's stop, a closed terminal) cleans up like Ctrl-C: no temporary file is left behind."""
    code = (
        "import sys, time\nfrom PIL import Image\nreal = Image.Image.save\n"
        "def slow(self, fp, *args, **kwargs):\n"
        "    real(self, fp, *args, **kwargs)\n    print(fp, flush=True)\n    time.sleep(60)\n"
        "Image.Image.save = slow\nfrom seggpt.cli.main import main\nsys.exit(main(sys.argv[1:]))"
    )
    prompt, out = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png")), tmp_path / "out"
    argv = ["segment", "--prompt", *map(str, prompt), "--input", str(_image(tmp_path / "q.png"))]
    argv += ["--output", str(out), "--model", str(checkpoint)]
    pipe = subprocess.PIPE
    run = subprocess.Popen([sys.executable, "-c", code, *argv], stdout=pipe, stderr=pipe, text=True)
    assert run.stdout is not None
    temp = Path(run.stdout.readline().strip())
    assert temp.exists()  # the label PNG is being written to its temporary file
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 143 and err.strip().splitlines()[-1] == "seggpt segment: terminated"
    assert not list(out.iterdir())


def test_tuned_prompt_that_is_a_folder_says_so(tmp_path, checkpoint, capsys):
    (tmp_path / "prompts").mkdir()
    argv = ["segment", "--tuned-prompt", str(tmp_path / "prompts"), "--input", str(_image(tmp_path / "q.png"))]
    assert main([*argv, "--output", str(tmp_path / "out"), "--model", str(checkpoint)]) == 2
    assert "is a folder" in _error(capsys)


def test_skip_existing_never_keeps_outputs_of_other_settings_or_older_inputs(tmp_path, checkpoint, capsys):
    """--skip-existing resumes exactly the run it continues: another model or prompt is refused, and an input
    changed after its outputs were written is segmented again."""
    prompt = (_image(tmp_path / "p.jpg"), _mask(tmp_path / "p.png"))
    query, out = _image(tmp_path / "in" / "q.png"), tmp_path / "out"
    assert _segment(checkpoint, prompt, [query], out) == 0
    torch.manual_seed(1)
    other = save_model(build_seggpt(get_preset("seggpt-test")), tmp_path / "other.safetensors")
    capsys.readouterr()
    assert _segment(other, prompt, [query], out, "--skip-existing") == 2
    assert "other settings (model)" in _error(capsys)
    mask = np.zeros((24, 32), np.uint8)
    mask[10:20, 2:12] = 255
    Image.fromarray(mask).save(tmp_path / "p2.png")
    assert _segment(checkpoint, (prompt[0], tmp_path / "p2.png"), [query], out, "--skip-existing") == 2
    assert "other settings (prompts)" in _error(capsys)
    assert _segment(checkpoint, prompt, [query], out, "--skip-existing") == 0
    assert "0 written, 1 skipped" in capsys.readouterr().out
    later = (out / "q.png").stat().st_mtime_ns + 10**9
    os.utime(query, ns=(later, later))  # the input was replaced after its output was written
    assert _segment(checkpoint, prompt, [query], out, "--skip-existing") == 0
    assert "1 written, 0 skipped" in capsys.readouterr().out
    os.utime(query, ns=(10**18, 10**18))  # older than any output again (2001), whenever the outputs are written
    assert _segment(other, prompt, [query], out) == 0  # without --skip-existing: written afresh, folder now mixed
    capsys.readouterr()
    assert _segment(other, prompt, [_image(tmp_path / "in" / "r.png", seed=2), query], out, "--skip-existing") == 2
    assert "no record" in _error(capsys)
