"""PASCAL VOC (VOCdevkit/VOC2012): semantic classes, object instances, and the PASCAL-5i few-shot folds.

``JPEGImages/<id>.jpg``, ``SegmentationClass[Aug]/<id>.png`` and ``SegmentationObject/<id>.png``,
``ImageSets/Segmentation/<split>.txt``; classes 1..20, 0 background, 255 = ignore. PASCAL-5i fold i tests
classes 5i+1..5i+5.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from seggpt.data.fewshot import FewShotDataset, FewShotLayout
from seggpt.data.io import load_label_map, load_mask, load_rgb
from seggpt.data.sources import (
    ClassLayout,
    InstanceImages,
    Sample,
    SemanticFolder,
    existing_dir,
    paired_files,
    remap_labels,
)

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")  # fmt: skip


def _voc_files(root: Path, split: str | None, mask_folder: str) -> list[tuple[Path, Path]]:
    if split is None:  # every annotated image
        return paired_files(root / "JPEGImages", root / mask_folder)
    list_file = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not list_file.is_file():
        raise FileNotFoundError(f"PASCAL VOC split list {list_file} does not exist")
    names = list_file.read_text().split()
    return [(root / "JPEGImages" / f"{n}.jpg", root / mask_folder / f"{n}.png") for n in names]


def pascal_voc(root: str | Path, split: str | None = "train") -> SemanticFolder:
    """PASCAL VOC (VOCdevkit/VOC2012 layout): JPEGImages + SegmentationClass; 0 background, 255 ignore.

    `split` names ImageSets/Segmentation/<split>.txt; None takes every annotated image.
    """
    return SemanticFolder(_voc_files(Path(root), split, "SegmentationClass"), ignore_values=(255,), name=f"voc-{split}")


VOC = ClassLayout(pascal_voc, "train", tuple(range(1, 21)), VOC_CLASSES, background=True)


def voc_instances(root: str | Path, split: str | None = "train") -> InstanceImages:
    """PASCAL VOC SegmentationObject: object ids 1..N, 255 = ignore (`split` as in `pascal_voc`)."""

    def loader(image: Path, mask: Path) -> Callable[[], Sample]:
        return lambda: Sample(load_rgb(image), remap_labels(load_label_map(mask), 0, (255,)))

    return InstanceImages([loader(i, m) for i, m in _voc_files(Path(root), split, "SegmentationObject")], "voc-obj")


def pascal5i(root: str | Path, fold: int, image_list: str | Path | None = None) -> FewShotDataset:
    """PASCAL-5i fold ``fold`` (0..3): every (image, class) of the fold's classes present in a listed image."""
    if fold not in range(4):
        raise ValueError(f"PASCAL-5i fold must be 0..3, got {fold}")
    root = existing_dir(root, "VOC root")
    mask_dir = root / "SegmentationClassAug"
    mask_dir = mask_dir if mask_dir.is_dir() else existing_dir(root / "SegmentationClass", "VOC mask folder")
    list_path = Path(image_list) if image_list else root / "ImageSets" / "Segmentation" / "val.txt"
    if not list_path.is_file():
        raise FileNotFoundError(f"image list {list_path} not found (expected one VOC image id a line)")
    classes = list(range(5 * fold + 1, 5 * fold + 6))

    def target(image: Path, class_id: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        mask = np.asarray(load_mask(mask_dir / f"{image.stem}.png"))
        return mask == class_id, mask == 255

    names = {c: VOC_CLASSES[c - 1] for c in classes}
    dataset = FewShotDataset(f"pascal5i-fold{fold}", names, items=[], target=target)
    for image_id in sorted(line.split()[0] for line in list_path.read_text().splitlines() if line.strip()):
        present = set(np.unique(np.asarray(load_mask(mask_dir / f"{image_id}.png"))).tolist())
        for class_id in classes:
            if class_id in present:
                dataset.items.append((root / "JPEGImages" / f"{image_id}.jpg", class_id))
    return dataset


PASCAL5I = FewShotLayout(
    lambda files, fold: pascal5i(files.need_root("pascal5i"), fold, files.image_list), folds=True, default_episodes=1000
)
