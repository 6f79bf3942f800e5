"""Few-shot datasets (one binary target per (image, class) item) and HSNet's deterministic episodes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

Target = tuple[NDArray[np.bool_], NDArray[np.bool_] | None]


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
