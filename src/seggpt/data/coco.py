"""COCO instances JSON (via pycocotools): instance pairs for training and the COCO-20i few-shot folds.

The 80 categories in id order are classes 1..80; COCO-20i fold i tests classes i+1+4k (k = 0..19).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from seggpt.data.fewshot import FewShotDataset, FewShotFiles, FewShotLayout
from seggpt.data.io import load_rgb
from seggpt.data.sources import InstanceImages, Sample

_COCO_FIELDS = {  # what this module reads of each record
    "images": ("id", "file_name", "height", "width"),
    "annotations": ("id", "image_id", "category_id", "segmentation", "area"),
    "categories": ("id", "name"),
}


def read_coco(annotation_json: str | Path) -> Any:
    """The pycocotools `COCO` of an instances JSON, checked for the records this module reads.

    Raises:
        ValueError: one line naming the file: not JSON text, or not a mapping with lists `images`,
            `annotations` and `categories` whose records carry the fields read here.
    """
    from pycocotools.coco import COCO

    expected = "expected a COCO instances JSON (images, annotations, categories)"
    try:
        coco = COCO(str(annotation_json))
    except (ValueError, AssertionError) as err:  # not JSON or not UTF-8 text; pycocotools asserts a mapping
        raise ValueError(f"{annotation_json}: {' '.join(str(err).split())}; {expected}") from err
    for key, fields in _COCO_FIELDS.items():
        records = coco.dataset.get(key)
        if not isinstance(records, list) or not all(isinstance(r, dict) and set(fields) <= set(r) for r in records):
            raise ValueError(
                f"{annotation_json}: '{key}' is not a list of records with {', '.join(fields)}; {expected}"
            )
    return coco


def coco_instances(annotation_json: str | Path, image_dir: str | Path, include_crowd: bool = False) -> InstanceImages:
    """COCO instances JSON (polygons or RLE, via pycocotools); crowd regions become ignore unless included."""
    coco = read_coco(annotation_json)
    image_dir = Path(image_dir)

    def loader(image_id: int) -> Callable[[], Sample]:
        def load() -> Sample:
            info = coco.loadImgs(image_id)[0]
            labels = np.zeros((info["height"], info["width"]), dtype=np.int64)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
            for k, ann in enumerate(sorted(anns, key=lambda a: -a["area"]), start=1):  # small objects on top
                mask = coco.annToMask(ann).astype(bool)
                labels[mask] = -1 if ann.get("iscrowd", 0) and not include_crowd else k
            return Sample(load_rgb(image_dir / info["file_name"]), labels)

        return load

    ids = [i for i in sorted(coco.getImgIds()) if coco.getAnnIds(imgIds=i)]
    return InstanceImages([loader(i) for i in ids], name="coco")


def coco20i(annotation_file: str | Path, image_dir: str | Path, fold: int) -> FewShotDataset:
    """COCO-20i fold ``fold`` (0..3) from an instances json: every (image, class) with an annotation of the class."""
    if fold not in range(4):
        raise ValueError(f"COCO-20i fold must be 0..3, got {fold}")
    coco = read_coco(annotation_file)
    category_ids = sorted(coco.getCatIds())
    if len(category_ids) != 80:
        raise ValueError(f"{annotation_file}: expected the 80 COCO categories, found {len(category_ids)}")
    classes = [fold + 1 + 4 * k for k in range(20)]
    names = {c: coco.loadCats(category_ids[c - 1])[0]["name"] for c in classes}
    image_ids: dict[Path, int] = {}

    def target(image: Path, class_id: int) -> tuple[NDArray[np.bool_], None]:
        return _coco_target(coco, image_ids[image], category_ids[class_id - 1]), None

    dataset = FewShotDataset(f"coco20i-fold{fold}", names, items=[], target=target)
    for image_id in sorted(coco.getImgIds()):
        present = {a["category_id"] for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id))}
        image = Path(image_dir) / coco.loadImgs(image_id)[0]["file_name"]
        image_ids[image] = image_id
        for class_id in classes:
            if category_ids[class_id - 1] in present:
                dataset.items.append((image, class_id))
    return dataset


def _coco20i_fold(files: FewShotFiles, fold: int) -> FewShotDataset:
    if files.annotations is None or files.images is None:
        raise ValueError("coco20i needs --coco-annotations JSON and --coco-images DIR")
    return coco20i(files.annotations, files.images, fold)


COCO20I = FewShotLayout(_coco20i_fold, folds=True, default_episodes=1000)


def _coco_target(coco: Any, image_id: int, category_id: int) -> NDArray[np.bool_]:
    """Union of the image's annotations of one category (crowd included), (H, W) bool."""
    info = coco.loadImgs(image_id)[0]
    mask = np.zeros((info["height"], info["width"]), dtype=bool)
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=image_id, catIds=[category_id])):
        mask |= coco.annToMask(ann).astype(bool)
    return mask
