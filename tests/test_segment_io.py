"""Robust image and mask reading: PIL modes, EXIF orientation, 16-bit labels, clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seggpt.data.io import load_mask, load_rgb

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _save(tmp_path: Path, image: Image.Image, name: str, **kwargs: object) -> Path:
    path = tmp_path / name
    image.save(path, **kwargs)
    return path


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "1", "LA", "CMYK", "I;16"])
def test_load_rgb_any_mode(tmp_path: Path, mode: str) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    image = (
        Image.fromarray(rgb).convert(mode) if mode != "I;16" else Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    )
    path = _save(tmp_path, image, "x.tif" if mode in ("CMYK", "I;16") else "x.png")
    out = load_rgb(path)
    assert out.shape == (5, 7, 3) and out.dtype == np.uint8
    if mode == "I;16":
        np.testing.assert_array_equal(out[..., 1], rgb[..., 0])
    else:
        with Image.open(path) as stored:
            np.testing.assert_array_equal(out, np.asarray(stored.convert("RGB")))


def test_large_image_is_read_in_bands_equal_to_a_whole_conversion(tmp_path: Path) -> None:
    """load_rgb converts a band of rows at a time (4M pixels): an image of several bands reads the same."""
    rng = np.random.default_rng(1)
    image = Image.fromarray(rng.integers(0, 256, (2100, 4096, 3), dtype=np.uint8)).convert("P")  # 3 bands
    path = _save(tmp_path, image, "tall.png")
    out = load_rgb(path)
    with Image.open(path) as stored:
        np.testing.assert_array_equal(out, np.asarray(stored.convert("RGB")))


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    image = Image.fromarray(np.zeros((4, 10, 3), np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees
    path = _save(tmp_path, image, "x.jpg", exif=exif)
    assert load_rgb(path).shape == (10, 4, 3)


def test_load_mask_keeps_values(tmp_path: Path) -> None:
    labels = np.array([[0, 3, 20], [255, 1, 0]], np.uint8)
    pal = Image.fromarray(labels, mode="P")
    pal.putpalette([7] * 768)
    np.testing.assert_array_equal(load_mask(_save(tmp_path, pal, "p.png")), labels)  # indexes, not colours
    ids = np.array([[0, 300], [65535, 2]], np.uint16)
    out = load_mask(_save(tmp_path, Image.fromarray(ids), "i16.png"))
    np.testing.assert_array_equal(out.astype(np.int64), ids)
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (200, 0, 0, 0)
    out = load_mask(_save(tmp_path, Image.fromarray(rgba), "rgba.png"))
    assert out.shape == (2, 2, 3) and out[0, 0].tolist() == [200, 0, 0]


def test_bad_files_give_clear_errors(tmp_path: Path) -> None:
    junk = tmp_path / "notes.png"
    junk.write_text("not an image")
    with pytest.raises(ValueError, match=r"cannot read .*notes.png as an image"):
        load_rgb(junk)
    with pytest.raises(ValueError, match=r"cannot read .*notes.png as an image"):
        load_mask(junk)
    truncated = tmp_path / "cut.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8) + 9).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:60])
    with pytest.raises(ValueError, match=r"cut\.png"):
        load_rgb(truncated)
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        load_rgb(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="got a folder"):
        load_rgb(tmp_path)


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "examples").is_dir(), reason="../shared/data/examples is absent")
def test_real_files() -> None:
    assert load_rgb(DATA / "examples" / "seggpt_official" / "hmbb_3.jpg").shape == (400, 700, 3)  # a palette PNG
    ids = load_mask(DATA / "examples" / "dsb2018_nuclei" / "mask2d.tif")
    assert ids.shape == (512, 512) and ids.dtype == np.uint16 and len(np.unique(ids)) == 126
