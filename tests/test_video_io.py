"""Video inputs (files, folders, DAVIS / YouTube-VOS layouts), results writers, and `seggpt video` end to end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_utils

from seggpt.cli.main import main
from seggpt.data.davis import find_first_annotation
from seggpt.inference.video_io import FrameSource, davis_palette, read_first_mask
from seggpt.inference.video_outputs import OverlayWriter, ResultWriter
from seggpt.model import save_model
from seggpt.model.config import get_preset
from seggpt.model.seggpt import build_seggpt

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZE = (48, 64)  # (H, W) of the synthetic frames


def make_frames(num: int, size: tuple[int, int] = SIZE) -> list[np.ndarray]:
    """A bright square moving on a dark gradient."""
    H, W = size
    frames = []
    for t in range(num):
        rgb = np.zeros((H, W, 3), dtype=np.uint8)
        rgb[..., 2] = np.linspace(0, 120, W, dtype=np.uint8)[None]
        rgb[10:26, 4 + 3 * t : 20 + 3 * t] = (230, 200, 40)
        frames.append(rgb)
    return frames


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        for rgb in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        container.mux(stream.encode())
    return path


def first_mask(size: tuple[int, int] = SIZE) -> np.ndarray:
    labels = np.zeros(size, dtype=np.uint8)
    labels[10:26, 4:20] = 1
    labels[30:40, 40:60] = 2
    return labels


def save_p(path: Path, labels: np.ndarray, palette: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(palette.reshape(-1).tolist())
    image.save(path)
    return path


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    model = build_seggpt(get_preset("seggpt-test"))
    return save_model(model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


def run_cli(*args) -> int:
    return main(["video", *map(str, args)])


def test_video_file_is_streamed(tmp_path):
    video = write_video(tmp_path / "clip.mp4", make_frames(6))
    source = FrameSource(video)
    assert source.count == 6 and source.fps == 10 and source.frames_folder is None
    frames = list(source)
    assert [f.name for f in frames] == [f"{i:05d}" for i in range(6)]
    assert all(f.rgb.shape == (*SIZE, 3) and f.rgb.dtype == np.uint8 for f in frames)
    assert np.abs(frames[2].rgb.astype(int) - make_frames(6)[2]).mean() < 8  # lossy codec, same picture


def test_folder_is_sorted_naturally(tmp_path):
    for i in (10, 2, 1):
        Image.fromarray(make_frames(1)[0]).save(tmp_path / f"frame{i}.jpg")
    (tmp_path / "notes.txt").write_text("not a frame")
    assert [f.name for f in FrameSource(tmp_path)] == ["frame1", "frame2", "frame10"]


def test_folder_with_two_files_of_one_frame_name_is_refused(tmp_path):
    """00000.jpg beside 00000.png (an earlier run's result PNG): both would write results/00000.png."""
    for i, rgb in enumerate(make_frames(2)):
        Image.fromarray(rgb).save(tmp_path / f"{i:05d}.jpg")
    Image.fromarray(first_mask()).save(tmp_path / "00000.png")
    with pytest.raises(ValueError, match=r"00000\.jpg and 00000\.png .* have one name \('00000'\)"):
        FrameSource(tmp_path)


def test_layouts_find_the_first_annotation(tmp_path):
    for root, seq in ((tmp_path / "DAVIS", Path("480p/seq")), (tmp_path / "ytvos", Path("vid"))):
        frames = root / "JPEGImages" / seq
        frames.mkdir(parents=True)
        Image.fromarray(make_frames(1)[0]).save(frames / "00005.jpg")
        assert find_first_annotation(frames, "00005") is None
        mask = save_p(root / "Annotations" / seq / "00005.png", first_mask(), davis_palette())
        assert find_first_annotation(frames, FrameSource(frames).first_name) == mask.resolve()


def test_read_first_mask_encodings(tmp_path):
    labels = first_mask()
    palette = davis_palette().copy()
    palette[2] = (10, 200, 30)
    got, got_palette = read_first_mask(save_p(tmp_path / "p.png", labels, palette))
    np.testing.assert_array_equal(got, labels)
    np.testing.assert_array_equal(got_palette, palette)
    Image.fromarray((labels > 0).astype(np.uint8) * 255).save(tmp_path / "davis2016.png")  # L, {0, 255}
    np.testing.assert_array_equal(read_first_mask(tmp_path / "davis2016.png")[0], labels > 0)
    rgb = np.where((labels > 0)[..., None], 250, 3).astype(np.uint8).repeat(3, -1)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")  # official white-on-black target
    got, got_palette = read_first_mask(tmp_path / "rgb.png")
    np.testing.assert_array_equal(got, labels > 0)
    assert got_palette is None


def test_cli_end_to_end(tmp_path, tiny_checkpoint):
    video = write_video(tmp_path / "clip.mp4", make_frames(5))
    mask = save_p(tmp_path / "mask.png", first_mask(), davis_palette())
    out, overlay = tmp_path / "out", tmp_path / "overlay.mp4"
    args = ["--input", video, "--first-mask", mask, "--output", out, "--model", tiny_checkpoint, "--memory", 2]
    assert run_cli(*args, "--overlay", overlay, "--rle", "--device", "cpu") == 0
    pngs = sorted(out.glob("*.png"))
    assert [p.stem for p in pngs] == [f"{i:05d}" for i in range(5)]
    for p in pngs:
        image = Image.open(p)
        assert image.mode == "P" and image.size == (SIZE[1], SIZE[0])
        assert np.asarray(image.getpalette()[:9]).tolist() == davis_palette()[:3].reshape(-1).tolist()
        assert set(np.unique(np.asarray(image)).tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(np.asarray(Image.open(pngs[0])), first_mask())  # frame 0 = the given mask
    rle = json.loads((out / "masks_rle.json").read_text())["frames"]
    assert [f["frame"] for f in rle] == [p.stem for p in pngs]
    for entry, p in zip(rle, pngs):
        labels = np.asarray(Image.open(p))
        for obj, code in entry["objects"].items():
            decoded = mask_utils.decode({"size": code["size"], "counts": code["counts"].encode()})
            np.testing.assert_array_equal(decoded, labels == int(obj))
    with av.open(str(overlay)) as container:
        assert sum(1 for _ in container.decode(video=0)) == 5
    assert not list(tmp_path.glob(".*tmp*"))  # no temporary leftovers


def test_cli_davis_layout_keeps_other_files(tmp_path, tiny_checkpoint):
    frames_dir = tmp_path / "DAVIS" / "JPEGImages" / "480p" / "seq"
    frames_dir.mkdir(parents=True)
    for i, rgb in enumerate(make_frames(3)):
        Image.fromarray(rgb).save(frames_dir / f"{i:05d}.jpg")
    palette = np.random.default_rng(0).integers(0, 256, (256, 3)).astype(np.uint8)
    save_p(tmp_path / "DAVIS" / "Annotations" / "480p" / "seq" / "00000.png", first_mask(), palette)
    out = tmp_path / "results" / "seq"
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("mine")
    assert run_cli("--input", frames_dir, "--output", out, "--model", tiny_checkpoint, "--no-keep-first") == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "00000.png",
        "00001.png",
        "00002.png",
        "keep.txt",
    ]
    assert np.asarray(Image.open(out / "00001.png").getpalette()).tolist() == palette.reshape(-1).tolist()


def test_bad_inputs_write_nothing(tmp_path, tiny_checkpoint, capsys):
    mask = save_p(tmp_path / "mask.png", first_mask(), davis_palette())
    (tmp_path / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    (tmp_path / "empty.mp4").write_bytes(b"")
    (tmp_path / "no_frames").mkdir()
    changing = tmp_path / "changing"
    changing.mkdir()
    Image.fromarray(make_frames(1)[0]).save(changing / "0.jpg")
    Image.fromarray(make_frames(1, (48, 62))[0]).save(changing / "1.jpg")
    wrong_size = save_p(tmp_path / "wrong.png", first_mask((40, 64)), davis_palette())
    big_ids = tmp_path / "ids16.png"
    Image.fromarray(first_mask().astype(np.uint16) * 300).save(big_ids)  # 16-bit ids 300, 600
    video = write_video(tmp_path / "clip.mp4", make_frames(3))
    empty_mask = save_p(tmp_path / "empty.png", np.zeros(SIZE), davis_palette())
    cases = [
        ("corrupt.mp4", mask, "cannot open the video"),
        ("empty.mp4", mask, "cannot open the video"),
        ("no_frames", mask, "holds no frames"),
        ("changing", mask, r"frame 1 of .* has size \(48, 62\), but the first frame has \(48, 64\)"),
        ("clip.mp4", wrong_size, r"has size \(40, 64\), but the frames of .* are \(48, 64\)"),
        ("clip.mp4", big_ids, "object id 600; indexed PNG results hold ids 0..255 only"),
        ("clip.mp4", empty_mask, "holds no object"),
    ]
    for name, first, message in cases:
        out = tmp_path / f"out_{name}"
        code = run_cli(
            "--input",
            tmp_path / name,
            "--first-mask",
            first,
            "--output",
            out,
            "--model",
            tiny_checkpoint,
            "--overlay",
            tmp_path / f"{name}.mp4",
        )
        assert code == 2, name
        err = capsys.readouterr().err.strip().splitlines()[-1]  # after the progress bar, if it started
        assert err.startswith("seggpt video: error:"), err

        assert re.search(message, err), (name, err)
        assert not out.exists() and not (tmp_path / f"{name}.mp4").exists(), name
    assert not list(tmp_path.glob(".*tmp*"))
    assert video.exists()


def test_writers_leave_nothing_on_failure(tmp_path):
    out, overlay = tmp_path / "out", tmp_path / "o.mp4"
    with (
        pytest.raises(RuntimeError),
        ResultWriter(out, davis_palette()) as results,
        OverlayWriter(overlay, 10, davis_palette()) as video,
    ):
        results.write("00000", first_mask())
        video.write(make_frames(1)[0], first_mask())
        raise RuntimeError("stopped half way")
    assert not out.exists() and not overlay.exists() and not list(tmp_path.iterdir())


@pytest.mark.data
def test_official_example_video(tmp_path, tiny_checkpoint):
    folder = DATA / "examples" / "seggpt_official"
    if not (folder / "video_1.mp4").exists():
        pytest.skip(f"official examples not found under {folder}")
    out = tmp_path / "out"
    args = ["--input", folder / "video_1.mp4", "--first-frame", folder / "video_1.jpg"]
    assert (
        run_cli(*args, "--first-mask", folder / "video_1_target.png", "--output", out, "--model", tiny_checkpoint) == 0
    )
    pngs = sorted(out.glob("*.png"))
    assert len(pngs) == 8 and Image.open(pngs[0]).size == (512, 512)  # every frame predicted


@pytest.mark.data
def test_davis2016_sequence(tmp_path, tiny_checkpoint):
    source = DATA / "davis2016"
    if not (source / "JPEGImages" / "240p" / "dog-agility").exists():
        pytest.skip(f"DAVIS 2016 not found under {DATA}")
    frames = tmp_path / "DAVIS" / "JPEGImages" / "240p" / "dog-agility"  # the first 6 frames, to stay fast
    annotation = tmp_path / "DAVIS" / "Annotations" / "240p" / "dog-agility" / "00000.png"
    frames.mkdir(parents=True)
    annotation.parent.mkdir(parents=True)
    for i in range(6):
        (frames / f"{i:05d}.jpg").write_bytes(
            (source / "JPEGImages" / "240p" / "dog-agility" / f"{i:05d}.jpg").read_bytes()
        )
    annotation.write_bytes((source / "Annotations" / "240p" / "dog-agility" / "00000.png").read_bytes())
    out = tmp_path / "results" / "dog-agility"
    assert run_cli("--input", frames, "--output", out, "--model", tiny_checkpoint, "--memory", 2) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [f"{i:05d}.png" for i in range(6)]
    result = Image.open(out / "00000.png")
    assert result.mode == "P" and result.size == (427, 240)  # the annotation's size
    np.testing.assert_array_equal(np.asarray(result), np.asarray(Image.open(annotation)) > 127)
