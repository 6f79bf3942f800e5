"""Fixed-class datasets for in-context tuning, with their class ids and names."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from seggpt.data import CLASS_LAYOUTS
from seggpt.data.folder import semantic_folder
from seggpt.data.io import load_label_map
from seggpt.data.sources import SemanticFolder
from seggpt.tuning.tuner import TuneDataset


def folder_classes(source: SemanticFolder) -> list[int]:
    """The class labels (>= 1) present in a folder dataset's masks."""
    present: set[int] = set()
    for _, mask_path in source.files:
        present |= set(np.unique(load_label_map(mask_path)).tolist())
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
