"""Few-shot datasets (one binary target per (image, class) item) and HSNet's deterministic episodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Target = tuple[NDArray[np.bool_], NDArray[np.bool_] | None]


@dataclass(frozen=True)
class FewShotFiles:
    """Where a few-shot dataset lies on disk; each layout reads the fields it needs (the others stay None).

    Attributes:
        root: FSS-1000's folder of class folders, or the VOC2012 folder.
        class_list: FSS-1000: a file of class names to test, one a line.
        image_list: PASCAL-5i: a file of image ids (default ImageSets/Segmentation/val.txt).
        annotations, images: COCO-20i: an instances json and its image folder.
    """

    root: Path | None = None
    class_list: Path | None = None
    image_list: Path | None = None
    annotations: Path | None = None
    images: Path | None = None

    def need_root(self, layout: str) -> Path:
        """``root``; a one-line error naming the option when it is not given."""
        if self.root is None:
            raise ValueError(f"{layout} needs --root DIR")
        return self.root


@dataclass(frozen=True)
class FewShotLayout:
    """How a few-shot layout is read (one line of `seggpt.data.FEWSHOT_LAYOUTS` each).

    Attributes:
        read: ``read(files, fold)`` -> the fold's `FewShotDataset` (a layout without folds ignores ``fold``).
        folds: the layout has folds (PASCAL-5i, COCO-20i: 0..3); FSS-1000 has one test set.
        default_episodes: episodes per fold when not given; None = one per item (the FSS-1000 protocol).
    """

    read: Callable[[FewShotFiles, int], FewShotDataset]
    folds: bool
    default_episodes: int | None


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
        target: the layout's reader of one item's target, ``(image path, class id)`` -> (H, W) bool
            foreground and (H, W) bool ignore pixels (PASCAL's 255) or None.
    """

    name: str
    class_names: dict[int, str]
    items: list[tuple[Path, int]]
    target: Callable[[Path, int], Target]

    def read_target(self, item: int) -> Target:
        """(H, W) bool foreground of item's class, and (H, W) bool ignore pixels or None."""
        return self.target(*self.items[item])

    def classwise(self) -> dict[int, list[int]]:
        """Class id -> indexes of its items, in order."""
        out: dict[int, list[int]] = {}
        for i, (_, class_id) in enumerate(self.items):
            out.setdefault(class_id, []).append(i)
        return out


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
