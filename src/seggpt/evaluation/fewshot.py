"""Few-shot segmentation episodes (FSS-1000, PASCAL-5i, COCO-20i) scored with HSNet's mIoU and FB-IoU.

`run_fewshot` is the protocol: every fold's episodes through a segmenter (or the paste baseline), resumable.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from seggpt.data import FEWSHOT_LAYOUTS
from seggpt.data.fewshot import Episode, FewShotDataset, FewShotFiles, sample_episodes
from seggpt.evaluation.cache import ResultCache
from seggpt.evaluation.metrics import FewShotIoU, fg_bg_intersection_union
from seggpt.evaluation.runs import ImageSegmenter, Outcome, RunOptions, image_segmenter, write_report

if TYPE_CHECKING:
    from seggpt.inference.segmenter import Ensemble


def run_episode(segmenter: ImageSegmenter, dataset: FewShotDataset, episode: Episode) -> tuple[np.ndarray, np.ndarray]:
    """Segment one episode's query from its supports; returns (2,) [background, foreground] intersection, union."""
    from seggpt.data.io import load_rgb

    prompt_images = [load_rgb(dataset.items[i][0]) for i in episode.supports]
    prompt_masks = [dataset.read_target(i)[0] for i in episode.supports]
    segmenter.set_prompts(prompt_images, prompt_masks, mask_type="binary")
    prediction = segmenter.segment([load_rgb(dataset.items[episode.query][0])])[0]
    target, ignore = dataset.read_target(episode.query)
    return fg_bg_intersection_union(prediction.labels > 0, target, ignore)


def evaluate_fewshot(
    segmenter: ImageSegmenter, dataset: FewShotDataset, episodes: Iterable[Episode], cache: ResultCache
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


@dataclass(frozen=True)
class FewShotOptions:
    """A few-shot run: the dataset (a `seggpt.data.FEWSHOT_LAYOUTS` name) and its files, folds, shots, episodes.

    Attributes:
        folds: the folds to run where the layout has folds (PASCAL-5i, COCO-20i); FSS-1000 ignores them.
        ensemble: how the segmenter combines several supports (see `Segmenter`).
        episodes: per fold; default the layout's (one per image for FSS-1000, else 1000).
        seed: of the supports drawn for each query (`sample_episodes`).
    """

    dataset: str
    files: FewShotFiles
    folds: tuple[int, ...] = (0, 1, 2, 3)
    shots: int = 1
    ensemble: Ensemble = "feature"
    episodes: int | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        if self.dataset not in FEWSHOT_LAYOUTS:
            raise ValueError(f"unknown few-shot dataset {self.dataset!r}; known: {', '.join(FEWSHOT_LAYOUTS)}")
        if self.episodes is not None and self.episodes < 1:
            raise ValueError(f"--episodes must be at least 1, got {self.episodes}")


def run_fewshot(options: FewShotOptions, run: RunOptions) -> Outcome[FewShotReport] | None:
    """Run each fold's episodes (resuming from ``run.output/<fold name>/``), write ``run.output/fewshot.json``.

    Returns:
        The report and the JSON path on the main process; None on the other torchrun ranks.
    """
    run.check()
    layout = FEWSHOT_LAYOUTS[options.dataset]
    segmenter = image_segmenter(run, ensemble=options.ensemble)
    report = FewShotReport(options.dataset, options.shots, options.ensemble)
    source, files = run.source, options.files
    for fold in options.folds if layout.folds else (0,):
        dataset = layout.read(files, fold)
        num_episodes = options.episodes if options.episodes is not None else layout.default_episodes
        episodes = sample_episodes(dataset, options.shots, num_episodes, options.seed)
        settings = {"protocol": "fewshot", "dataset": dataset.name, "root": str(files.root),
                    "coco_annotations": str(files.annotations), "model": source.model,
                    "model_fingerprint": source.fingerprint, "baseline": source.baseline, "shots": options.shots,
                    "ensemble": options.ensemble, "episodes": len(episodes), "seed": options.seed}  # fmt: skip
        cache = ResultCache(run.output / dataset.name, settings, resume=run.resume, shard=run.shard)
        meter = evaluate_fewshot(segmenter, dataset, tqdm(run.shard.take(episodes), desc=dataset.name), cache)
        title = f"{dataset.name}, {options.shots}-shot"
        report.folds.append(FewShotFold(dataset.name, title, meter, dataset.class_names, len(episodes)))
    if not run.shard.is_main:
        return None
    return Outcome(report, (write_report(report, run.output / "fewshot.json"),))
