"""Writers: palette PNGs with class ids, mask PNGs, overlays, COCO RLE JSON; atomic on failure."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pycocotools.mask as mask_utils
import pytest
from PIL import Image

from seggpt.inference.palette import palette
from seggpt.inference.prediction import Prediction
from seggpt.inference.writers import (
    atomic_write,
    write_label_png,
    write_mask_png,
    write_overlay,
    write_rle_json,
)


def _prediction(class_ids: list[int], height: int = 9, width: int = 7) -> Prediction:
    H, W = height, width
    labels = np.zeros((H, W), np.int64)
    labels[1:4, 1:5] = class_ids[0]
    labels[6:, 2:] = class_ids[-1]
    colours = palette(len(class_ids))
    rgb = np.zeros((H, W, 3), np.float32)
    image = np.full((H, W, 3), 100, np.uint8)
    return Prediction(labels, rgb, np.ones((H, W), np.float32), np.array(class_ids), colours, image)


def test_label_png_is_indexed_with_class_ids(tmp_path: Path) -> None:
    pred = _prediction([3, 7])
    path = write_label_png(tmp_path / "a.png", pred)
    with Image.open(path) as image:
        assert image.mode == "P"
        np.testing.assert_array_equal(np.asarray(image), pred.labels)
        table = np.array(image.getpalette()).reshape(-1, 3)
    np.testing.assert_array_equal(table[[0, 3, 7]], pred.colours)


def test_label_png_with_large_ids_is_16_bit(tmp_path: Path) -> None:
    pred = _prediction([300, 1000])
    path = write_label_png(tmp_path / "a.png", pred)
    with Image.open(path) as image:
        np.testing.assert_array_equal(np.asarray(image).astype(np.int64), pred.labels)


def test_mask_and_overlay_pngs(tmp_path: Path) -> None:
    pred = _prediction([1])
    path = write_mask_png(tmp_path / "m.png", pred.mask(1))
    with Image.open(path) as image:
        assert image.mode == "L"
        np.testing.assert_array_equal(np.asarray(image), np.where(pred.mask(1), 255, 0))
    overlay = pred.overlay()
    assert (overlay[~pred.mask(1)] == 100).all() and (overlay[pred.mask(1)] == 178).all()  # 0.5*100 + 0.5*255
    for name in ("o.png", "o.jpg"):
        with Image.open(write_overlay(tmp_path / name, overlay)) as image:
            assert image.size == (7, 9) and image.format == ("PNG" if name.endswith("png") else "JPEG")


def test_rle_json_decodes_back_to_masks(tmp_path: Path) -> None:
    pred = _prediction([2, 5])
    path = write_rle_json(tmp_path / "a.json", pred, file_name="a.jpg")
    data = json.loads(path.read_text())
    assert (data["file_name"], data["height"], data["width"]) == ("a.jpg", 9, 7)
    assert [a["class_id"] for a in data["annotations"]] == [2, 5]
    for record, mask in zip(data["annotations"], pred.masks):
        rle = dict(record["segmentation"], counts=record["segmentation"]["counts"].encode())
        np.testing.assert_array_equal(mask_utils.decode(rle).astype(bool), mask)
        assert record["area"] == int(mask.sum())
    assert data["annotations"][0]["bbox"] == [1.0, 1.0, 4.0, 3.0]


def test_failed_write_leaves_no_file(tmp_path: Path) -> None:
    target = tmp_path / "out.png"

    def broken(tmp: Path) -> None:
        tmp.write_bytes(b"half a file")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken)
    assert list(tmp_path.iterdir()) == []
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        atomic_write(target, broken)
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]


def test_label_png_rejects_ids_beyond_16_bit(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="above 65535"):
        write_label_png(tmp_path / "a.png", _prediction([70000]))
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_gives_the_mode_of_a_plain_open(tmp_path) -> None:
    import os

    from seggpt.atomic import atomic_write

    mask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "x.txt", lambda tmp: tmp.write_text("hi"))
    finally:
        os.umask(mask)
    assert path.read_text() == "hi" and (path.stat().st_mode & 0o777) == 0o644


def test_output_registry_writes_exactly_the_listed_paths(tmp_path: Path) -> None:
    from seggpt.inference.writers import OUTPUTS, output_paths, parse_formats, write_outputs

    pred = _prediction([2, 5])
    formats = parse_formats(" label, mask,overlay,rle ")
    assert formats == list(OUTPUTS)
    source = tmp_path / "in" / "photo.jpg"
    write_outputs(tmp_path, source, pred, formats)
    expected = output_paths(tmp_path, "photo", formats, pred.class_ids)
    assert [p.name for p in expected] == [
        "photo.png", "photo_mask_2.png", "photo_mask_5.png", "photo_overlay.png", "photo.json"
    ]  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == sorted(p.name for p in expected)
    assert json.loads((tmp_path / "photo.json").read_text())["file_name"] == "photo.jpg"
    with pytest.raises(ValueError, match=r"unknown \['gif'\]; expected a comma-separated subset of label,mask"):
        parse_formats("label,gif")
    with pytest.raises(ValueError, match="unknown"):
        parse_formats(" , ")


@pytest.mark.parametrize("class_ids", [[2, 5], [300, 70000]])
def test_nearest_prediction_writes_without_full_resolution_labels(tmp_path: Path, class_ids: list[int]) -> None:
    """A large query's outputs come from the small decoded index: `labels` (8 bytes a pixel) is never built."""
    import torch

    from seggpt.inference.prediction import decode_colour_output
    from seggpt.inference.writers import write_outputs

    colours = palette(len(class_ids))
    small = np.zeros((4, 6, 3), np.float32)
    small[1:3, 1:4] = colours[1]
    small[3:, 3:] = colours[2]
    image = np.random.default_rng(0).integers(0, 256, (1100, 1000, 3), dtype=np.uint8)  # > 1M px: blends in 2 bands
    colour = torch.from_numpy(small).permute(2, 0, 1)
    lazy = decode_colour_output(colour, (1100, 1000), np.array(class_ids), colours, query_image=image)
    formats = ["mask", "overlay", "rle"] + (["label"] if max(class_ids) <= 65535 else [])
    write_outputs(tmp_path / "lazy", Path("q.png"), lazy, formats)
    assert "labels" not in vars(lazy) and lazy.size == (1100, 1000)
    assert lazy.compact_labels().dtype == (np.uint8 if max(class_ids) <= 255 else np.uint32)
    plain = Prediction(lazy.labels, lazy.colour, lazy.confidence, lazy.class_ids, colours, image)
    np.testing.assert_array_equal(lazy.compact_labels(), plain.labels)
    assert set(np.unique(plain.labels).tolist()) == {0, *class_ids}
    write_outputs(tmp_path / "plain", Path("q.png"), plain, formats)
    for path in sorted((tmp_path / "plain").iterdir()):
        assert path.read_bytes() == (tmp_path / "lazy" / path.name).read_bytes(), path.name
    # the banded blend equals the whole-image formula
    paint = colours[np.searchsorted(lazy.class_ids, plain.labels) + 1].astype(np.float32)
    expected = np.where(plain.labels[..., None] > 0, 0.5 * image + 0.5 * paint, image.astype(np.float32))
    np.testing.assert_array_equal(lazy.overlay(), np.rint(expected).clip(0, 255).astype(np.uint8))
