"""Data source adapters: label conventions of each layout (0 background, k >= 1, -1 ignore) and clear errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seggpt.data.ade20k import ade20k
from seggpt.data.cityscapes import cityscapes
from seggpt.data.coco import coco_instances
from seggpt.data.davis import davis
from seggpt.data.folder import semantic_folder
from seggpt.data.voc import pascal_voc, voc_instances
from seggpt.training.pairs import PairOptions, build_example

EXAMPLES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "examples"


def write_pair(image: Path, mask: Path, labels: np.ndarray) -> None:
    for path in (image, mask):
        path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*labels.shape, 3), 90, dtype=np.uint8)).save(image)
    Image.fromarray(labels.astype(np.uint8), mode="L").save(mask)


def test_ade20k_and_cityscapes_layouts(tmp_path: Path) -> None:
    labels = np.array([[0, 1, 150, 7]] * 4)
    for name in ("a", "b"):
        write_pair(
            tmp_path / "ade/images/training" / f"{name}.jpg",
            tmp_path / "ade/annotations/training" / f"{name}.png",
            labels,
        )
    ade = ade20k(tmp_path / "ade")
    assert len(ade) == 2 and ade.load(0).labels[0].tolist() == [-1, 1, 150, 7]  # 0 = ignore in ADE20K-150
    train_ids = np.array([[255, 0, 18, 3]] * 4)
    city = tmp_path / "city"
    write_pair(
        city / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png",
        city / "gtFine/train/aachen/aachen_000000_000019_gtFine_labelTrainIds.png",
        train_ids,
    )
    cs = cityscapes(city)
    assert len(cs) == 1 and cs.load(0).labels[0].tolist() == [-1, 1, 19, 4]
    prompt, query = ade.pair(0, np.random.default_rng(0))
    assert prompt is not query  # the other image shares categories
    example, layout = build_example([(prompt, query)], "semantic", (64, 32), 8, np.random.default_rng(0), PairOptions())
    assert example.target_canvas.shape == (3, 64, 32) and set(layout.keys) <= {1, 7, 150}


def test_missing_folders_and_unmatched_masks_error_clearly(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"image folder .*nothere"):
        semantic_folder(tmp_path / "nothere", tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "images" / "x.jpg")
    with pytest.raises(ValueError, match=r"no image in .* has a matching \.png mask"):
        semantic_folder(tmp_path / "images", tmp_path / "masks")
    with pytest.raises(FileNotFoundError, match="split list"):
        pascal_voc(tmp_path, "train")
    with pytest.raises(FileNotFoundError, match="DAVIS frames folder"):
        davis(tmp_path)


@pytest.mark.data
def test_voc_and_coco_examples() -> None:
    root = EXAMPLES / "voc_labelme"
    if not root.is_dir():
        pytest.skip(f"VOC/COCO examples not found at {root}")
    voc = pascal_voc(root / "VOC", split=None)
    sample = voc.load(0)
    assert len(voc) == 3 and sample.labels.min() >= -1 and sample.labels.max() <= 20
    objects = voc_instances(root / "VOC", split=None)
    prompt, query = objects.pair(0, np.random.default_rng(0))
    assert prompt is query and query.labels.max() >= 1  # two augmented views of one image
    coco = coco_instances(root / "COCO" / "annotations.json", root / "COCO")  # file_name: JPEGImages/...
    assert len(coco) == 3
    _, query = coco.pair(0, np.random.default_rng(0))
    assert query.labels.max() >= 1 and query.labels.shape == query.image.shape[:2]
    example, _ = build_example(
        [coco.pair(1, np.random.default_rng(1))], "instance", (64, 32), 8, np.random.default_rng(1), PairOptions()
    )
    assert int(example.seg_type) == 1 and example.valid.shape == (1, 64, 32)
