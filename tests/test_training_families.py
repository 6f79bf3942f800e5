"""The training source families: a config naming several builds the same sources, weights and order as ever.

The order of the sources decides every sampled pair (`PairDataset` draws a source index by weight), so a
seed-deterministic, exactly resumable run depends on it staying what it was.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seggpt.training.config import DataSection
from seggpt.training.dataset import SOURCE_FAMILIES, PairDataset, build_sources
from test_training_sources import write_pair


def _layouts(root: Path) -> DataSection:
    """One tiny folder per layout the config can name, and the data section naming them all."""
    labels = np.array([[0, 1, 2, 3]] * 4)
    for name in ("a", "b"):
        write_pair(root / f"camvid/train/{name}.png", root / f"camvid/trainannot/{name}.png", labels)
        write_pair(root / f"ade/images/training/{name}.jpg", root / f"ade/annotations/training/{name}.png", labels)
        write_pair(root / f"voc/JPEGImages/{name}.jpg", root / f"voc/SegmentationClass/{name}.png", labels)
        write_pair(root / f"voc/JPEGImages/{name}.jpg", root / f"voc/SegmentationObject/{name}.png", labels)
        for video in ("davis", "ytvos/train"):
            frames = "JPEGImages/480p" if video == "davis" else "JPEGImages"
            masks = "Annotations/480p" if video == "davis" else "Annotations"
            write_pair(root / f"{video}/{frames}/seq/{name}.jpg", root / f"{video}/{masks}/seq/{name}.png", labels)
    city = "aachen/aachen_000000_000019"
    city_image, city_labels = (
        f"leftImg8bit/train/{city}_leftImg8bit.png",
        f"gtFine/train/{city}_gtFine_labelTrainIds.png",
    )
    write_pair(root / "city" / city_image, root / "city" / city_labels, labels)
    (root / "voc/ImageSets/Segmentation").mkdir(parents=True)
    (root / "voc/ImageSets/Segmentation/train.txt").write_text("a\nb\n")
    (root / "davis/ImageSets").mkdir(parents=True)
    (root / "davis/ImageSets/train.txt").write_text("seq\n")
    polygon = [[0, 0, 3, 0, 3, 3, 0, 3]]
    annotation = {"id": 1, "image_id": 1, "category_id": 1, "segmentation": polygon, "area": 9,
                  "bbox": [0, 0, 3, 3], "iscrowd": 0}  # fmt: skip
    coco = {"images": [{"id": 1, "file_name": "a.jpg", "height": 4, "width": 4}], "annotations": [annotation],
            "categories": [{"id": 1, "name": "thing"}]}  # fmt: skip
    (root / "coco.json").write_text(json.dumps(coco))
    return DataSection(
        camvid_root=str(root / "camvid"), ade20k_root=str(root / "ade"), voc_root=str(root / "voc"),
        cityscapes_root=str(root / "city"), coco_json=str(root / "coco.json"), coco_images=str(root / "voc/JPEGImages"),
        davis_root=str(root / "davis"), ytvos_root=str(root / "ytvos"), synthetic=True, synthetic_scenes=8,
        weights={"voc": 2.0, "coco": 0.5, "synthetic": 3.0},
    )  # fmt: skip


# (family, source name, weight, items) of every source, in order, as built before the family registry existed
EXPECTED = [("camvid", "camvid-train", 1.0, 2), ("ade20k", "ade20k-training", 1.0, 2), ("voc", "voc-train", 1.0, 2),
            ("voc", "voc-obj", 1.0, 2), ("cityscapes", "cityscapes-train", 1.0, 1), ("coco", "coco", 0.5, 1),
            ("davis", "davis-480p", 1.0, 2), ("ytvos", "ytvos-train", 1.0, 2), ("synthetic", "synthetic-shape", 0.6, 8),
            ("synthetic", "synthetic-colour", 0.6, 8), ("synthetic", "synthetic-part", 0.6, 8),
            ("synthetic", "synthetic-contour", 0.6, 8), ("synthetic", "synthetic-instance", 0.6, 8)]  # fmt: skip


def test_sources_of_a_config_naming_every_family_keep_names_weights_and_order(tmp_path: Path) -> None:
    pytest.importorskip("pycocotools")
    data = _layouts(tmp_path)
    sources = build_sources(data)
    assert [(s.family, s.source.name, s.weight, len(s.source)) for s in sources] == EXPECTED
    assert [f.name for f in SOURCE_FAMILIES] == list(dict.fromkeys(e[0] for e in EXPECTED))
    # the sampled sources of the first items follow from that order and those weights alone
    stream = PairDataset(sources, (64, 32), 8, seed=3)
    picks = [int(np.random.default_rng([3, i]).choice(len(sources), p=stream.all_weights)) for i in range(6)]
    assert picks == [0, 2, 0, 1, 11, 1]


def test_unnamed_families_are_left_out_and_unknown_weights_refused(tmp_path: Path) -> None:
    data = _layouts(tmp_path)
    only = DataSection(camvid_root=data.camvid_root, synthetic=False)
    assert [(s.family, s.source.name) for s in build_sources(only)] == [("camvid", "camvid-train")]
    with pytest.raises(ValueError, match="no training data"):
        build_sources(DataSection(synthetic=False))
    with pytest.raises(ValueError, match=r"unknown source families \['camvid2'\]"):
        build_sources(DataSection(synthetic=True, synthetic_scenes=4, weights={"camvid2": 1.0}))
