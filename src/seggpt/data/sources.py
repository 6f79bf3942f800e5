"""The in-context sample sources every layout builds on: one image with its label map, pairs of them.

Every source returns `Sample`s with one label convention: an (H, W) int64 map where 0 = background (valid,
never coloured), k >= 1 = a category (semantic) or an object (instance), and -1 = ignore (no loss).
`source.pair(index, rng)` returns the two samples of an in-context pair (prompt, query); `training.pairs`
picks the categories or objects, colours them and builds the canvases.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from seggpt.data.io import is_single_object, label_values, load_label_map, load_rgb

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
        labels = remap_labels(load_label_map(mask_path), self.offset, self.ignore_values)
        image = load_rgb(image_path)
        if image.shape[:2] != labels.shape:
            raise ValueError(f"image {image_path} is {image.shape[:2]} but its mask {mask_path} is {labels.shape}")
        return Sample(image, labels)

    def pair(self, index: int, rng: np.random.Generator) -> tuple[Sample, Sample]:
        query = self.load(index)
        classes = set(label_values(query.labels).tolist()) - {0, -1}
        for _ in range(self.tries if len(self) > 1 else 0):
            other = int(rng.integers(len(self)))
            if other == index:
                continue
            prompt = self.load(other)
            if classes & (set(label_values(prompt.labels).tolist()) - {0, -1}):
                return prompt, query
        return query, query  # two augmented views of one image are in context too


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
        raw = load_label_map(mask_path)
        labels = (raw > 0).astype(np.int64) if is_single_object(raw) else raw  # DAVIS 2016: one object
        return Sample(load_rgb(image_path), labels)

    def pair(self, index: int, rng: np.random.Generator) -> tuple[Sample, Sample]:
        seq, frame = self.index[index]
        n = len(self.sequences[seq])
        other = int(np.clip(frame + rng.integers(-self.max_gap, self.max_gap + 1), 0, n - 1))
        return self.load(seq, other), self.load(seq, frame)


def video_sequences(frame_root: Path, mask_root: Path, names: list[str]) -> list[list[tuple[Path, Path]]]:
    """Per named video, its sorted (frame .jpg, mask .png) paths of annotated frames; videos without any left out."""
    sequences = []
    for name in names:
        masks = {p.stem: p for p in (mask_root / name).glob("*.png")}
        frames = sorted(p for p in (frame_root / name).glob("*.jpg") if p.stem in masks)
        if frames:
            sequences.append([(f, masks[f.stem]) for f in frames])
    return sequences


def existing_dir(path: str | Path, what: str) -> Path:
    """`path` as a Path; a clear error when it is not a folder (`what` names it)."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{what} {path} is not a folder")
    return path


@dataclass(frozen=True)
class ClassLayout:
    """A fixed-class semantic layout: how to read it and what its label values mean (for tuning a prompt on it).

    Attributes:
        read: `read(root, split)` -> the layout's SemanticFolder (labels 1..K, 0 background, -1 ignore).
        split: the default (training) split.
        class_ids: class k's label value in the dataset's own files is `class_ids[k - 1]`.
        class_names: one name per class.
        background: the dataset has a background (label 0) besides its classes.
    """

    read: Callable[[str | Path, str], SemanticFolder]
    split: str
    class_ids: tuple[int, ...]
    class_names: tuple[str, ...]
    background: bool
