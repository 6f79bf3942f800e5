"""Readers for the evaluation layouts, and deterministic few-shot episodes.

- FSS-1000: ``root/<class>/<n>.jpg`` with ``<n>.png`` (foreground = any non-zero value).
- PASCAL-5i over a VOC layout: ``JPEGImages/<id>.jpg``, ``SegmentationClassAug/<id>.png`` (or
  ``SegmentationClass``), ``ImageSets/Segmentation/val.txt``; classes 1..20, 255 = ignore.
  Fold i tests classes 5i+1..5i+5.
- COCO-20i over a COCO layout: an instances json and its image folder; the 80 categories in id order
  are classes 1..80 and fold i tests classes i+1+4k (k = 0..19).

- DAVIS 2016 / 2017: ``JPEGImages/<resolution>/<seq>/<frame>.jpg``, ``Annotations/<resolution>/<seq>/<frame>.png``.
- Semantic label-map folders (CamVid, ADE20K-style): an image folder and a label folder with equal stems.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from seggpt.inference.io import load_mask, natural_key


@dataclass(frozen=True)
class Episode:
    """One few-shot episode: a query and ``shots`` supports of the same class (indexes into ``dataset.items``)."""

    index: int
    class_id: int
    query: int
    supports: tuple[int, ...]


@dataclass
class FewShotDataset:
    """Images with one binary target per (image, class) pair.

    Attributes:
        name: "fss1000", "pascal5i" or "coco20i" (with the fold).
        class_names: class id -> name, for the classes under test.
        items: ``(image path, class id)`` pairs, the queries in protocol order.
        mask_paths: per item, its mask file (FSS-1000, PASCAL); None for COCO (built from annotations).
    """

    name: str
    class_names: dict[int, str]
    items: list[tuple[Path, int]]
    mask_paths: list[Path | None] = field(default_factory=list)
    coco: Any = None
    coco_ids: list[int] = field(default_factory=list)
    coco_category_ids: list[int] = field(default_factory=list)

    def read_target(self, item: int) -> tuple[NDArray[np.bool_], NDArray[np.bool_] | None]:
        """(H, W) bool foreground of item's class, and (H, W) bool ignore pixels (PASCAL's 255) or None."""
        _, class_id = self.items[item]
        if self.coco is not None:
            category = self.coco_category_ids[class_id - 1]
            return _coco_target(self.coco, self.coco_ids[item], category), None
        path = self.mask_paths[item]
        assert path is not None
        mask = np.asarray(load_mask(path))
        if self.name.startswith("fss1000"):
            return np.asarray(mask.any(axis=-1) if mask.ndim == 3 else mask > 0, dtype=bool), None
        return mask == class_id, mask == 255

    def classwise(self) -> dict[int, list[int]]:
        """Class id -> indexes of its items, in order."""
        out: dict[int, list[int]] = {}
        for i, (_, class_id) in enumerate(self.items):
            out.setdefault(class_id, []).append(i)
        return out


def fss1000(root: str | Path, class_list: str | Path | None = None) -> FewShotDataset:
    """FSS-1000 classes under ``root`` (all class folders, or the names listed one a line in ``class_list``).

    Class ids are 0.. in the listed (or sorted) order. Every ``<n>.jpg`` with a ``<n>.png`` is an item.
    """
    root = _existing_dir(root, "FSS-1000 root")
    if class_list is not None:
        names = [line.strip() for line in Path(class_list).read_text().splitlines() if line.strip()]
        missing = [n for n in names if not (root / n).is_dir()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} listed classes have no folder under {root}: {missing[:5]}")
    else:
        names = sorted(p.name for p in root.iterdir() if p.is_dir())
    dataset = FewShotDataset(name="fss1000", class_names=dict(enumerate(names)), items=[])
    for class_id, name in enumerate(names):
        images = [p for p in (root / name).glob("*.jpg") if p.with_suffix(".png").exists()]
        images.sort(key=lambda p: natural_key(p.stem))
        for image in images:
            dataset.items.append((image, class_id))
            dataset.mask_paths.append(image.with_suffix(".png"))
    if not dataset.items:
        raise FileNotFoundError(f"no FSS-1000 class folders with <n>.jpg + <n>.png pairs under {root}")
    return dataset


VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow", "diningtable",
               "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor")  # fmt: skip


def pascal5i(root: str | Path, fold: int, image_list: str | Path | None = None) -> FewShotDataset:
    """PASCAL-5i fold ``fold`` (0..3): every (image, class) of the fold's classes present in a listed image."""
    if fold not in range(4):
        raise ValueError(f"PASCAL-5i fold must be 0..3, got {fold}")
    root = _existing_dir(root, "VOC root")
    mask_dir = root / "SegmentationClassAug"
    mask_dir = mask_dir if mask_dir.is_dir() else _existing_dir(root / "SegmentationClass", "VOC mask folder")
    list_path = Path(image_list) if image_list else root / "ImageSets" / "Segmentation" / "val.txt"
    if not list_path.is_file():
        raise FileNotFoundError(f"image list {list_path} not found (expected one VOC image id a line)")
    classes = list(range(5 * fold + 1, 5 * fold + 6))
    dataset = FewShotDataset(f"pascal5i-fold{fold}", {c: VOC_CLASSES[c - 1] for c in classes}, items=[])
    for image_id in sorted(line.split()[0] for line in list_path.read_text().splitlines() if line.strip()):
        mask_path = mask_dir / f"{image_id}.png"
        present = set(np.unique(np.asarray(load_mask(mask_path))).tolist())
        for class_id in classes:
            if class_id in present:
                dataset.items.append((root / "JPEGImages" / f"{image_id}.jpg", class_id))
                dataset.mask_paths.append(mask_path)
    return dataset


def coco20i(annotation_file: str | Path, image_dir: str | Path, fold: int) -> FewShotDataset:
    """COCO-20i fold ``fold`` (0..3) from an instances json: every (image, class) with an annotation of the class."""
    if fold not in range(4):
        raise ValueError(f"COCO-20i fold must be 0..3, got {fold}")
    from pycocotools.coco import COCO

    coco = COCO(str(annotation_file))
    category_ids = sorted(coco.getCatIds())
    if len(category_ids) != 80:
        raise ValueError(f"{annotation_file}: expected the 80 COCO categories, found {len(category_ids)}")
    classes = [fold + 1 + 4 * k for k in range(20)]
    names = {c: coco.loadCats(category_ids[c - 1])[0]["name"] for c in classes}
    dataset = FewShotDataset(f"coco20i-fold{fold}", names, items=[], coco=coco, coco_category_ids=category_ids)
    for image_id in sorted(coco.getImgIds()):
        present = {a["category_id"] for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id))}
        for class_id in classes:
            if category_ids[class_id - 1] in present:
                dataset.items.append((Path(image_dir) / coco.loadImgs(image_id)[0]["file_name"], class_id))
                dataset.coco_ids.append(image_id)
    return dataset


def sample_episodes(
    dataset: FewShotDataset, shots: int, num_episodes: int | None = None, seed: int = 0
) -> list[Episode]:
    """Deterministic episodes, as HSNet: episode i's query is item ``i % len(items)``; its supports are
    ``shots`` other items of the same class drawn without replacement by ``numpy.random.default_rng(seed)``.

    Args:
        num_episodes: default one per item (the FSS-1000 protocol); PASCAL-5i and COCO-20i use 1000.
    """
    if shots < 1:
        raise ValueError(f"shots must be at least 1, got {shots}")
    classwise = dataset.classwise()
    small = {dataset.class_names[c]: len(v) for c, v in classwise.items() if len(v) <= shots}
    if small:
        raise ValueError(f"{shots}-shot episodes need at least {shots + 1} images per class; too few in {small}")
    rng = np.random.default_rng(seed)
    episodes = []
    for index in range(len(dataset.items) if num_episodes is None else num_episodes):
        query = index % len(dataset.items)
        class_id = dataset.items[query][1]
        others = [i for i in classwise[class_id] if i != query]
        supports = tuple(int(i) for i in rng.choice(others, size=shots, replace=False))
        episodes.append(Episode(index, class_id, query, supports))
    return episodes


@dataclass(frozen=True)
class DavisSequence:
    """One DAVIS sequence: its frames and annotations in order.

    ``year`` 2016: any non-zero annotation value is the one object (id 1). ``year`` 2017: values are object
    ids, 255 = void.
    """

    name: str
    frames: list[Path]
    annotations: list[Path]
    year: int


def davis_sequences(
    root: str | Path,
    resolution: str = "480p",
    sequences: list[str] | None = None,
    imageset: str | None = None,
    year: int | None = None,
) -> list[DavisSequence]:
    """The sequences of a DAVIS 2016/2017 layout.

    Args:
        root: the DAVIS folder (with ``JPEGImages``, ``Annotations``, ``ImageSets``).
        resolution: "480p", "240p", "Full-Resolution", ... (the sub-folder name).
        sequences: names to use; default the ``imageset``'s, else every annotated sequence.
        imageset: a list file (path, or a name under ``ImageSets``: ``val``, ``2017/val``, ``val_dev_480p``);
            one sequence a line or DAVIS 2016's ``/JPEGImages/480p/<seq>/00000.jpg ...`` lines.
        year: 2016 or 2017 mask encoding; default guessed per sequence (a first mask of only 0 and 255 is 2016).
    """
    root = _existing_dir(root, "DAVIS root")
    annotation_root = _existing_dir(root / "Annotations" / resolution, "DAVIS annotation folder")
    if sequences is None and imageset is not None:
        sequences = _read_imageset(root, imageset)
    if sequences is None:
        sequences = sorted(p.name for p in annotation_root.iterdir() if p.is_dir())
    out = []
    for name in sequences:
        frames = sorted((root / "JPEGImages" / resolution / name).glob("*.jpg"))
        annotations = sorted((annotation_root / name).glob("*.png"))
        if not frames or not annotations:
            raise FileNotFoundError(f"DAVIS sequence {name!r}: no frames or annotations under {root} at {resolution}")
        if year is None:
            first = np.asarray(load_mask(annotations[0]))
            seq_year = 2016 if set(np.unique(first).tolist()) <= {0, 255} else 2017
        elif year in (2016, 2017):
            seq_year = year
        else:
            raise ValueError(f"DAVIS year must be 2016 or 2017, got {year}")
        out.append(DavisSequence(name, frames, annotations, seq_year))
    return out


def read_davis_annotation(path: Path, year: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """(H, W) int64 object ids and (H, W) bool void pixels of one annotation PNG (see ``DavisSequence``)."""
    mask = read_label_png(path)
    if year == 2016:
        return (mask > 0).astype(np.int64), np.zeros(mask.shape, dtype=bool)
    return np.where(mask == 255, 0, mask), mask == 255


def read_result_labels(path: Path, year: int) -> NDArray[np.int64]:
    """(H, W) int64 object ids of one results PNG (indexed or grey); for 2016 any non-zero value is object 1."""
    if not path.is_file():
        raise FileNotFoundError(f"results frame {path} is missing")
    mask = read_label_png(path)
    return (mask > 0).astype(np.int64) if year == 2016 else mask


def label_map_pairs(image_dir: str | Path, label_dir: str | Path) -> list[tuple[Path, Path]]:
    """(image, label PNG) pairs with equal stems, sorted; every image must have its label map."""
    image_dir, label_dir = _existing_dir(image_dir, "image folder"), _existing_dir(label_dir, "label folder")
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    pairs = [(image, label_dir / f"{image.stem}.png") for image in images]
    missing = [str(label) for _, label in pairs if not label.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images of {image_dir} have no label map, e.g. {missing[0]}")
    if not pairs:
        raise FileNotFoundError(f"no images (.jpg, .jpeg, .png) in {image_dir}")
    return pairs


def read_label_png(path: Path) -> NDArray[np.int64]:
    """(H, W) int64 values of a single-channel or indexed (palette) label PNG."""
    mask = np.asarray(load_mask(path))
    if mask.ndim != 2:
        raise ValueError(f"{path}: expected a single-channel or indexed label PNG, got shape {mask.shape}")
    return mask.astype(np.int64)


def _read_imageset(root: Path, imageset: str) -> list[str]:
    candidates = [Path(imageset), root / "ImageSets" / imageset, root / "ImageSets" / f"{imageset}.txt"]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"image set {imageset!r} not found (tried {', '.join(map(str, candidates))})")
    names: list[str] = []
    for line in path.read_text().split("\n"):
        if line.strip():
            first = line.split()[0]
            name = Path(first).parent.name if "/" in first else first
            if name not in names:
                names.append(name)
    return names


def _coco_target(coco: Any, image_id: int, category_id: int) -> NDArray[np.bool_]:
    """Union of the image's annotations of one category (crowd included), (H, W) bool."""
    info = coco.loadImgs(image_id)[0]
    mask = np.zeros((info["height"], info["width"]), dtype=bool)
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=image_id, catIds=[category_id])):
        mask |= coco.annToMask(ann).astype(bool)
    return mask


def _existing_dir(path: str | Path, what: str) -> Path:
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{what} {path} is not a folder")
    return path
