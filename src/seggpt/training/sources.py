"""Training data sources: small adapters over standard dataset layouts that yield in-context sample pairs.

Every source returns `Sample`s with one label convention: an (H, W) int64 map where 0 = background (valid,
never coloured), k >= 1 = a category (semantic) or an object (instance), and -1 = ignore (no loss).
`source.pair(index, rng)` returns the two samples of an in-context pair (prompt, query); `pairs.py` picks the
categories or objects, colours them and builds the canvases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

Task = Literal["semantic", "instance"]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")


@dataclass
class Sample:
    """One image and its label map: image (H, W, 3) uint8 RGB; labels (H, W) int64 (0 bg, k >= 1, -1 ignore)."""

    image: NDArray[np.uint8]
    labels: NDArray[np.int64]


class PairSource(Protocol):
    """What the pair builder needs from a data source."""

    name: str
    task: Task

    def __len__(self) -> int: ...

    def pair(self, index: int, rng: np.random.Generator) -> tuple[Sample, Sample]:
        """(prompt, query) samples that share categories (semantic) or objects (instance)."""
        ...


def read_rgb(path: Path) -> NDArray[np.uint8]:
    """(H, W, 3) uint8 RGB of any image file (palette and grey images are converted)."""
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def read_index_map(path: Path) -> NDArray[np.int64]:
    """(H, W) int64 raw values of a label PNG (palette indexes for mode P, grey levels for mode L)."""
    with Image.open(path) as img:
        values = img if img.mode in ("P", "L", "I", "I;16") else img.convert("L")
        return np.asarray(values).astype(np.int64)


def remap_labels(raw: NDArray[np.int64], offset: int, ignore_values: tuple[int, ...]) -> NDArray[np.int64]:
    """raw + offset, with `ignore_values` (raw) -> -1."""
    labels = raw + offset
    for value in ignore_values:
        labels[raw == value] = -1
    return labels


def paired_files(
    image_dir: Path, mask_dir: Path, mask_name: Callable[[Path], str] | None = None
) -> list[tuple[Path, Path]]:
    """(image, mask) paths matched by file stem (or by `mask_name(image_path)`); a missing folder is an error."""
    for folder, what in ((image_dir, "image"), (mask_dir, "mask")):
        if not folder.is_dir():
            raise FileNotFoundError(f"{what} folder {folder} does not exist")
    images = sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    masks = {p.relative_to(mask_dir).with_suffix("").as_posix(): p for p in mask_dir.rglob("*.png")}
    pairs = []
    for image in images:
        key = mask_name(image) if mask_name else image.relative_to(image_dir).with_suffix("").as_posix()
        if key in masks:
            pairs.append((image, masks[key]))
    if not pairs:
        raise ValueError(f"no image in {image_dir} has a matching .png mask in {mask_dir}")
    return pairs


class SemanticFolder:
    """A semantic label-map dataset: images and PNG label maps matched by name.

    Args:
        files: (image, mask) path pairs.
        offset: added to raw label values (e.g. 1 when raw 0 is already a category, as in CamVid).
        ignore_values: raw values that mean "ignore" (no loss).
        tries: partners tried to find an image that shares a category; else the same image (two views).
    """

    task: Task = "semantic"

    def __init__(
        self,
        files: list[tuple[Path, Path]],
        *,
        offset: int = 0,
        ignore_values: tuple[int, ...] = (),
        name: str = "semantic",
        tries: int = 8,
    ):
        self.files, self.offset, self.ignore_values, self.name, self.tries = files, offset, ignore_values, name, tries

    def __len__(self) -> int:
        return len(self.files)

    def load(self, index: int) -> Sample:
        image_path, mask_path = self.files[index]
        labels = remap_labels(read_index_map(mask_path), self.offset, self.ignore_values)
        image = read_rgb(image_path)
        if image.shape[:2] != labels.shape:
            raise ValueError(f"image {image_path} is {image.shape[:2]} but its mask {mask_path} is {labels.shape}")
        return Sample(image, labels)

    def pair(self, index: int, rng: np.random.Generator) -> tuple[Sample, Sample]:
        query = self.load(index)
        classes = set(np.unique(query.labels).tolist()) - {0, -1}
        for _ in range(self.tries if len(self) > 1 else 0):
            other = int(rng.integers(len(self)))
            if other == index:
                continue
            prompt = self.load(other)
            if classes & (set(np.unique(prompt.labels).tolist()) - {0, -1}):
                return prompt, query
        return query, query  # two augmented views of one image are in context too


def semantic_folder(image_dir: str | Path, mask_dir: str | Path, **kwargs: object) -> SemanticFolder:
    """Generic images/ + masks/ folders (raw 0 = background, 255 = ignore unless overridden)."""
    kwargs.setdefault("ignore_values", (255,))
    return SemanticFolder(paired_files(Path(image_dir), Path(mask_dir)), **kwargs)  # type: ignore[arg-type]


def camvid(root: str | Path, split: str = "train") -> SemanticFolder:
    """CamVid (SegNet split): `<split>/` + `<split>annot/`; raw 0..10 are classes (-> 1..11), 11 = void."""
    root = Path(root)
    files = paired_files(root / split, root / f"{split}annot")
    return SemanticFolder(files, offset=1, ignore_values=(11,), name=f"camvid-{split}")


def ade20k(root: str | Path, split: str = "training") -> SemanticFolder:
    """ADE20K-150 (ADEChallengeData2016): images/<split> + annotations/<split>; 0 = ignore, 1..150 classes."""
    root = Path(root)
    files = paired_files(root / "images" / split, root / "annotations" / split)
    return SemanticFolder(files, ignore_values=(0,), name=f"ade20k-{split}")


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


def cityscapes(root: str | Path, split: str = "train") -> SemanticFolder:
    """Cityscapes: leftImg8bit/<split> + gtFine/<split> `*_gtFine_labelTrainIds.png` (trainId 0..18 -> 1..19)."""
    root = Path(root)

    def mask_name(image: Path) -> str:
        rel = image.relative_to(root / "leftImg8bit" / split).as_posix()
        return rel.replace("_leftImg8bit.png", "_gtFine_labelTrainIds")

    files = paired_files(root / "leftImg8bit" / split, root / "gtFine" / split, mask_name)
    return SemanticFolder(files, offset=1, ignore_values=(255,), name=f"cityscapes-{split}")


class InstanceImages:
    """Instance datasets: each pair is two augmented views of one image (the same objects in both)."""

    task: Task = "instance"

    def __init__(self, loaders: list[Callable[[], Sample]], name: str = "instance"):
        self.loaders, self.name = loaders, name

    def __len__(self) -> int:
        return len(self.loaders)

    def pair(self, index: int, rng: np.random.Generator) -> tuple[Sample, Sample]:
        sample = self.loaders[index]()
        return sample, sample


def voc_instances(root: str | Path, split: str | None = "train") -> InstanceImages:
    """PASCAL VOC SegmentationObject: object ids 1..N, 255 = ignore (`split` as in `pascal_voc`)."""

    def loader(image: Path, mask: Path) -> Callable[[], Sample]:
        return lambda: Sample(read_rgb(image), remap_labels(read_index_map(mask), 0, (255,)))

    return InstanceImages([loader(i, m) for i, m in _voc_files(Path(root), split, "SegmentationObject")], "voc-obj")


def coco_instances(annotation_json: str | Path, image_dir: str | Path, include_crowd: bool = False) -> InstanceImages:
    """COCO instances JSON (polygons or RLE, via pycocotools); crowd regions become ignore unless included."""
    from pycocotools.coco import COCO

    coco = COCO(str(annotation_json))
    image_dir = Path(image_dir)

    def loader(image_id: int) -> Callable[[], Sample]:
        def load() -> Sample:
            info = coco.loadImgs(image_id)[0]
            labels = np.zeros((info["height"], info["width"]), dtype=np.int64)
            anns = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
            for k, ann in enumerate(sorted(anns, key=lambda a: -a["area"]), start=1):  # small objects on top
                mask = coco.annToMask(ann).astype(bool)
                labels[mask] = -1 if ann.get("iscrowd", 0) and not include_crowd else k
            return Sample(read_rgb(image_dir / info["file_name"]), labels)

        return load

    ids = [i for i in sorted(coco.getImgIds()) if coco.getAnnIds(imgIds=i)]
    return InstanceImages([loader(i) for i in ids], name="coco")


class VideoObjects:
    """Video object datasets: two frames of one video are an in-context pair; objects are the instances.

    Args:
        sequences: per video, the sorted (frame, mask) paths.
        max_gap: largest frame distance between the two frames of a pair.
    """

    task: Task = "instance"

    def __init__(self, sequences: list[list[tuple[Path, Path]]], name: str = "video", max_gap: int = 30):
        if not sequences:
            raise ValueError(f"video source {name} has no annotated sequences")
        self.sequences, self.name, self.max_gap = sequences, name, max_gap
        self.index = [(s, f) for s, seq in enumerate(sequences) for f in range(len(seq))]

    def __len__(self) -> int:
        return len(self.index)

    def load(self, seq: int, frame: int) -> Sample:
        image_path, mask_path = self.sequences[seq][frame]
        raw = read_index_map(mask_path)
        labels = (raw > 0).astype(np.int64) if set(np.unique(raw).tolist()) <= {0, 255} else raw  # DAVIS 2016
        return Sample(read_rgb(image_path), labels)

    def pair(self, index: int, rng: np.random.Generator) -> tuple[Sample, Sample]:
        seq, frame = self.index[index]
        n = len(self.sequences[seq])
        other = int(np.clip(frame + rng.integers(-self.max_gap, self.max_gap + 1), 0, n - 1))
        return self.load(seq, other), self.load(seq, frame)


def _video_sequences(frame_root: Path, mask_root: Path, names: list[str]) -> list[list[tuple[Path, Path]]]:
    sequences = []
    for name in names:
        masks = {p.stem: p for p in (mask_root / name).glob("*.png")}
        frames = sorted(p for p in (frame_root / name).glob("*.jpg") if p.stem in masks)
        if frames:
            sequences.append([(f, masks[f.stem]) for f in frames])
    return sequences


def davis(root: str | Path, resolution: str = "480p", sequences: str | list[str] = "train") -> VideoObjects:
    """DAVIS 2016/2017: JPEGImages/<res>/<seq> + Annotations/<res>/<seq>.

    `sequences` is a list of names or a split name read from ImageSets (`<split>_<res>.txt`, `<split>.txt`,
    or `<year>/<split>.txt`); "all" takes every sequence folder.
    """
    root = Path(root)
    frame_root, mask_root = root / "JPEGImages" / resolution, root / "Annotations" / resolution
    if not frame_root.is_dir():
        raise FileNotFoundError(f"DAVIS frames folder {frame_root} does not exist")
    if isinstance(sequences, list):
        names = sequences
    elif sequences == "all":
        names = sorted(p.name for p in frame_root.iterdir() if p.is_dir())
    else:
        candidates = [
            root / "ImageSets" / f"{sequences}_{resolution}.txt",
            root / "ImageSets" / f"{sequences}.txt",
            *sorted((root / "ImageSets").glob(f"*/{sequences}.txt")),
        ]
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise FileNotFoundError(f"no DAVIS split list for {sequences!r} among {[str(c) for c in candidates]}")
        names = found[0].read_text().split()
    return VideoObjects(_video_sequences(frame_root, mask_root, names), name=f"davis-{resolution}")


def youtube_vos(root: str | Path, split: str = "train") -> VideoObjects:
    """YouTube-VOS: <split>/JPEGImages/<video> + <split>/Annotations/<video> (palette PNGs, object ids)."""
    base = Path(root) / split
    frame_root = base / "JPEGImages"
    if not frame_root.is_dir():
        raise FileNotFoundError(f"YouTube-VOS frames folder {frame_root} does not exist")
    names = sorted(p.name for p in frame_root.iterdir() if p.is_dir())
    return VideoObjects(_video_sequences(frame_root, base / "Annotations", names), name=f"ytvos-{split}")
