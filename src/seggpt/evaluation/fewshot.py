"""Few-shot segmentation episodes (FSS-1000, PASCAL-5i, COCO-20i) scored with HSNet's mIoU and FB-IoU."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from seggpt.data.fewshot import Episode, FewShotDataset
from seggpt.evaluation.cache import ResultCache
from seggpt.evaluation.metrics import FewShotIoU, fg_bg_intersection_union

if TYPE_CHECKING:
    from seggpt.inference.segmenter import Segmenter


def run_episode(segmenter: Segmenter, dataset: FewShotDataset, episode: Episode) -> tuple[np.ndarray, np.ndarray]:
    """Segment one episode's query from its supports; returns (2,) [background, foreground] intersection, union."""
    from seggpt.data.io import load_rgb

    prompt_images = [load_rgb(dataset.items[i][0]) for i in episode.supports]
    prompt_masks = [dataset.read_target(i)[0] for i in episode.supports]
    segmenter.set_prompts(prompt_images, prompt_masks, mask_type="binary")
    prediction = segmenter.segment([load_rgb(dataset.items[episode.query][0])])[0]
    target, ignore = dataset.read_target(episode.query)
    return fg_bg_intersection_union(prediction.labels > 0, target, ignore)


def evaluate_fewshot(
    segmenter: Segmenter, dataset: FewShotDataset, episodes: Iterable[Episode], cache: ResultCache
) -> FewShotIoU:
    """Run every episode not yet in ``cache`` (keyed by episode index), then sum all of them per class.

    Under torchrun pass this rank's share of the episodes; the sums cover every shard's (``cache.gather``).

    Returns:
        The per-class sums; ``miou()`` and ``fb_iou()`` give the protocol's numbers in percent.
    """
    for episode in episodes:
        key = str(episode.index)
        if key in cache:
            continue
        intersection, union = run_episode(segmenter, dataset, episode)
        record = {"class_id": episode.class_id, "intersection": intersection.tolist(), "union": union.tolist()}
        cache.add(key, record)
    return meter_from_records(cache.gather().values())


def meter_from_records(records: Iterable[dict]) -> FewShotIoU:
    """Sum cached per-episode records (class_id, intersection, union) into a ``FewShotIoU``."""
    meter = FewShotIoU()
    for record in records:
        meter.add(int(record["class_id"]), np.array(record["intersection"]), np.array(record["union"]))
    return meter


def format_table(meter: FewShotIoU, class_names: dict[int, str], title: str) -> str:
    """Text table: foreground IoU per class, then mIoU and FB-IoU (percent) over ``class_names``' classes."""
    per_class = meter.class_iou()
    width = max([len(n) for n in class_names.values()] + [8])
    rows = [title, f"{'class':<{width}}  {'IoU':>6}"]
    for class_id, name in class_names.items():
        rows.append(f"{name:<{width}}  {per_class.get(class_id, 0.0):6.1f}")
    ids = list(class_names)
    rows.append(f"{'mIoU':<{width}}  {meter.miou(ids):6.1f}")
    rows.append(f"{'FB-IoU':<{width}}  {meter.fb_iou(ids):6.1f}")
    return "\n".join(rows)


@dataclass(frozen=True)
class FewShotFold:
    """The result of one fold (or the whole of FSS-1000): per-class sums over its episodes."""

    name: str
    title: str
    meter: FewShotIoU
    class_names: dict[int, str]
    episodes: int

    def table(self) -> str:
        """Text table: IoU per class, mIoU and FB-IoU (percent)."""
        return format_table(self.meter, self.class_names, self.title)

    def to_json(self) -> dict[str, Any]:
        """{"mIoU", "FB-IoU", "episodes", "class_iou": {name: IoU}} in percent."""
        ids = list(self.class_names)
        per_class = self.meter.class_iou()
        return {
            "mIoU": self.meter.miou(ids), "FB-IoU": self.meter.fb_iou(ids), "episodes": self.episodes,
            "class_iou": {name: per_class.get(c, 0.0) for c, name in self.class_names.items()},
        }  # fmt: skip


@dataclass
class FewShotReport:
    """A few-shot run: its settings and one `FewShotFold` per fold."""

    dataset: str
    shots: int
    ensemble: str
    folds: list[FewShotFold] = field(default_factory=list)

    def table(self) -> str:
        """Every fold's table, one after the other."""
        return "\n".join(fold.table() for fold in self.folds)

    def to_json(self) -> dict[str, Any]:
        """{"dataset", "shots", "ensemble", "folds": {fold name: FewShotFold.to_json()}}."""
        folds = {fold.name: fold.to_json() for fold in self.folds}
        return {"dataset": self.dataset, "shots": self.shots, "ensemble": self.ensemble, "folds": folds}
