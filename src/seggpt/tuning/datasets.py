"""What in-context tuning learns from: a fixed-class dataset (`tune_dataset`) or a few examples (`prompt_dataset`)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from seggpt.data import CLASS_LAYOUTS
from seggpt.data.folder import semantic_folder
from seggpt.data.io import label_values, load_label_map
from seggpt.data.sources import Sample, SemanticFolder
from seggpt.inference.prompts import load_prompts
from seggpt.tuning.tuner import TuneDataset

PathLike = str | Path


def folder_classes(source: SemanticFolder) -> list[int]:
    """The class labels (>= 1) present in a folder dataset's masks."""
    present: set[int] = set()
    for _, mask_path in source.files:
        present |= set(label_values(load_label_map(mask_path)).tolist())
    return sorted(v for v in present if v >= 1 and v not in source.ignore_values)


def tune_dataset(
    name: str,
    root: str | Path | None = None,
    *,
    split: str | None = None,
    images: str | Path | None = None,
    masks: str | Path | None = None,
    class_names: list[str] | None = None,
) -> TuneDataset:
    """A dataset to tune a prompt on.

    Args:
        name: a layout of `seggpt.data.CLASS_LAYOUTS`: "camvid" (raw 0..10 classes, 11 void; no background),
            "ade20k" (ADEChallengeData2016: 1..150, 0 ignored; no background), "voc" (VOC2012: 0 background,
            1..20, 255 ignored); or "folder" (an images/ + masks/ pair: 0 background, 255 ignored, every
            other value present is a class).
        root: dataset root (camvid, ade20k, voc).
        split: split folder; default the training split.
        images, masks: the two folders of a "folder" dataset.
        class_names: names for a "folder" dataset's classes (default "class <id>").

    Returns:
        The TuneDataset: a source with labels 1..K (0 background, -1 ignore) and the dataset's own ids.
    """
    if name == "folder":
        if images is None or masks is None:
            raise ValueError("a folder dataset needs both images and masks folders")
        source = semantic_folder(images, masks)
        ids = folder_classes(source)
        if not ids:
            raise ValueError(f"the masks in {masks} hold no class value other than 0 and 255")
        if ids != list(range(1, len(ids) + 1)):
            raise ValueError(f"folder classes must be 1..K without gaps for tuning, found {ids}")
        names = class_names or [f"class {i}" for i in ids]
        if len(names) != len(ids):
            raise ValueError(f"{len(names)} class names given for {len(ids)} classes {ids}")
        return TuneDataset(source, ids, names, background=True)
    if name not in CLASS_LAYOUTS:
        raise ValueError(f"unknown tuning dataset {name!r}; expected {', '.join(CLASS_LAYOUTS)} or folder")
    if root is None:
        raise ValueError(f"the {name} dataset needs its root folder")
    layout = CLASS_LAYOUTS[name]
    return TuneDataset(
        layout.read(root, split or layout.split), list(layout.class_ids), list(layout.class_names), layout.background
    )


class PromptPairs(SemanticFolder):
    """Example images with their masks as a tuning source, read once: labels 1..K are the rows of the examples'
    class table (as `seggpt segment` reads the masks), -1 ignore. `files` holds the examples given as files."""

    def __init__(self, files: list[tuple[Path, Path]], samples: list[Sample], ignore_value: int | None):
        super().__init__(files, ignore_values=() if ignore_value is None else (ignore_value,), name="prompts")
        self._samples = samples

    def load(self, index: int) -> Sample:
        return self._samples[index]

    def __len__(self) -> int:
        return len(self._samples)


def prompt_dataset(
    pairs: Sequence[tuple[PathLike | NDArray[np.uint8], PathLike | NDArray[Any]]],
    *,
    ignore_value: int | None = None,
    class_names: list[str] | None = None,
) -> TuneDataset:
    """Tune on a few examples: what one would give `Segmenter.set_prompts` or `seggpt segment --prompt`.

    The examples are read as prompts are (`load_prompts`: a binary white-on-black mask is class 1, label maps
    keep their ids, RGB colour targets number their colours 1..K), so the tuned prompt writes the same class ids
    as those examples given in context.

    Args:
        pairs: per example, its image ((H, W, 3) uint8 RGB or a path) and mask (any form `encode_prompt_masks`
            takes, or a path).
        ignore_value: the label value of unlabelled pixels in label-map masks (no loss there).
        class_names: one name per class, in ascending id order (default "class <id>").

    Raises:
        ValueError: an unreadable file, a mask of another size than its image or in no known form.
    """
    if not pairs:
        raise ValueError("tuning on examples needs at least one (image, mask) pair")
    images, prompts = load_prompts(
        [image for image, _ in pairs], [mask for _, mask in pairs], ignore_value=ignore_value
    )
    ids = [int(k) for k in prompts.class_ids]
    names = class_names or [f"class {k}" for k in ids]
    if len(names) != len(ids):
        raise ValueError(f"{len(names)} class names given for {len(ids)} classes {ids}")
    files = [(Path(i), Path(m)) for i, m in pairs if isinstance(i, str | Path) and isinstance(m, str | Path)]
    samples = [Sample(image, index) for image, index in zip(images, prompts.indexes)]
    digest = hashlib.sha256()
    for sample in samples:
        for array in (sample.image, sample.labels):
            digest.update(str(array.shape).encode() + np.ascontiguousarray(array).tobytes())
    source = PromptPairs(files, samples, ignore_value)
    return TuneDataset(source, ids, names, background=True, content=digest.hexdigest()[:16])
