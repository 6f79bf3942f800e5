"""FSS-1000: ``root/<class>/<n>.jpg`` with ``<n>.png`` (foreground = any non-zero value)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from seggpt.data.fewshot import FewShotDataset, FewShotLayout
from seggpt.data.io import load_mask, natural_key
from seggpt.data.sources import existing_dir


def fss1000_target(image: Path, class_id: int) -> tuple[NDArray[np.bool_], None]:
    """The foreground of `<n>.png` beside `<n>.jpg`: any non-zero value (any channel of an RGB mask); no ignore."""
    mask = np.asarray(load_mask(image.with_suffix(".png")))
    return np.asarray(mask.any(axis=-1) if mask.ndim == 3 else mask > 0, dtype=bool), None


def fss1000(root: str | Path, class_list: str | Path | None = None) -> FewShotDataset:
    """FSS-1000 classes under ``root`` (all class folders, or the names listed one a line in ``class_list``).

    Class ids are 0.. in the listed (or sorted) order. Every ``<n>.jpg`` with a ``<n>.png`` is an item.
    """
    root = existing_dir(root, "FSS-1000 root")
    if class_list is not None:
        names = [line.strip() for line in Path(class_list).read_text().splitlines() if line.strip()]
        missing = [n for n in names if not (root / n).is_dir()]
        if missing:
            raise FileNotFoundError(f"{len(missing)} listed classes have no folder under {root}: {missing[:5]}")
    else:
        names = sorted(p.name for p in root.iterdir() if p.is_dir())
    dataset = FewShotDataset(name="fss1000", class_names=dict(enumerate(names)), items=[], target=fss1000_target)
    for class_id, name in enumerate(names):
        images = [p for p in (root / name).glob("*.jpg") if p.with_suffix(".png").exists()]
        images.sort(key=lambda p: natural_key(p.stem))
        for image in images:
            dataset.items.append((image, class_id))
    if not dataset.items:
        raise FileNotFoundError(f"no FSS-1000 class folders with <n>.jpg + <n>.png pairs under {root}")
    return dataset


FSS1000 = FewShotLayout(
    lambda files, fold: fss1000(files.need_root("fss1000"), files.class_list), folds=False, default_episodes=None
)
