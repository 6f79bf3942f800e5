"""Semantic segmentation on label-map folders (CamVid, ADE20K-style): confusion-matrix mIoU per class.

Class ids in the dataset are 0..C-1 with one ignore value. SegGPT reserves 0 for background, so prompts
carry ``class + 1`` (ignore painted black) and a pixel the model leaves as background is counted as an
extra "none" prediction: wrong for every class, never a class of its own in the mean. `run_semantic` is the
protocol: prompts from the training split (or a tuned prompt, or a folder of predictions), then every image.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray
from tqdm import tqdm

from seggpt.data.camvid import CAMVID_CLASSES
from seggpt.data.folder import label_map_pairs
from seggpt.data.io import load_label_map
from seggpt.evaluation.cache import ResultCache, checkpoint_stamp, files_stamp
from seggpt.evaluation.metrics import confusion_matrix, iou_per_class
from seggpt.evaluation.runs import ImageSegmenter, Outcome, RunOptions, image_segmenter, model_segmenter, write_report

if TYPE_CHECKING:
    from seggpt.inference.prediction import Upsample
    from seggpt.inference.segmenter import Ensemble

PROMPT_IGNORE = 255  # the ignore value of shifted prompt label maps


def choose_prompts(
    label_paths: Sequence[Path], num_prompts: int, num_classes: int, ignore_index: int, seed: int = 0
) -> list[int]:
    """Indexes of ``num_prompts`` training label maps that together cover as many classes as possible.

    Greedy: from a seeded random order, repeatedly take the map adding the most classes not yet covered
    (ties: the map's larger number of classes, then the random order).
    """
    if not 1 <= num_prompts <= len(label_paths):
        raise ValueError(f"num_prompts must be 1..{len(label_paths)} (the training maps), got {num_prompts}")
    order = np.random.default_rng(seed).permutation(len(label_paths))
    present = {int(i): set(np.unique(load_label_map(label_paths[i])).tolist()) - {ignore_index} for i in order}
    chosen: list[int] = []
    covered: set[int] = set()
    for _ in range(num_prompts):
        best = max((i for i in present if i not in chosen), key=lambda i: (len(present[i] - covered), len(present[i])))
        chosen.append(best)
        covered |= present[best]
    return chosen


def to_prompt_labels(
    labels: NDArray[np.integer], ignore_index: int, background: int | None = None
) -> NDArray[np.int64]:
    """Dataset label map -> prompt label map: class c becomes c + 1, the ignore value ``PROMPT_IGNORE``.

    With ``background``, that class becomes 0 instead (black in the prompt, as SegGPT's background).
    """
    labels = np.asarray(labels, dtype=np.int64)
    out = np.where(labels == ignore_index, PROMPT_IGNORE, labels + 1)
    return out if background is None else np.where(labels == background, 0, out)


def from_prediction_labels(
    labels: NDArray[np.integer], num_classes: int, background: int | None = None
) -> NDArray[np.int64]:
    """Segmenter label map (0 background, c + 1 class c) -> dataset ids; background -> ``background`` if the
    dataset has such a class, else ``num_classes`` ("none")."""
    labels = np.asarray(labels, dtype=np.int64)
    return np.where(labels == 0, num_classes if background is None else background, labels - 1)


def set_class_prompts(
    segmenter: ImageSegmenter,
    pairs: Sequence[tuple[Path, Path]],
    chosen: Sequence[int],
    ignore_index: int,
    background: int | None = None,
) -> None:
    """Give the segmenter the chosen training images with their (shifted) label maps as prompts."""
    from seggpt.data.io import load_rgb

    images = [load_rgb(pairs[i][0]) for i in chosen]
    masks = [to_prompt_labels(load_label_map(pairs[i][1]), ignore_index, background) for i in chosen]
    segmenter.set_prompts(images, masks, ignore_value=PROMPT_IGNORE, mask_type="labels")


def evaluate_semantic(
    pairs: Iterable[tuple[Path, Path]],
    num_classes: int,
    ignore_index: int,
    cache: ResultCache,
    *,
    segmenter: ImageSegmenter | None = None,
    predictions: str | Path | None = None,
    dataset_ids: bool = False,
    background: int | None = None,
) -> NDArray[np.int64]:
    """Confusion matrix over (image, label) pairs, predicting with ``segmenter`` or reading ``predictions``.

    Args:
        pairs: (image path, label map path) of the split to score.
        segmenter: a Segmenter with class prompts already set; its label maps are shifted back.
        predictions: instead of a model, a folder of predicted label maps ``<stem>.png`` in dataset ids.
        cache: finished images (keyed by stem) with their confusion matrices.
        dataset_ids: the segmenter already outputs dataset ids (a tuned prompt), so no shift back.
        background: the dataset class shown as black background in the prompts (see `to_prompt_labels`).

    Returns:
        (C + 1, C + 1) int64 confusion matrix (rows truth, columns prediction; index C = "none").
    """
    if (segmenter is None) == (predictions is None):
        raise ValueError("give exactly one of a segmenter or a predictions folder")
    from seggpt.data.io import load_rgb

    for image_path, label_path in pairs:
        key = image_path.stem
        stamp = files_stamp(Path(predictions) / f"{key}.png") if predictions is not None else None
        if key in cache and cache.items[key].get("predictions_stamp") == stamp:  # a rewritten file: scored again
            continue
        target = load_label_map(label_path)
        if segmenter is not None:
            labels = segmenter.segment([load_rgb(image_path)])[0].labels
            pred = labels if dataset_ids else from_prediction_labels(labels, num_classes, background)
        else:
            pred = load_label_map(Path(predictions) / f"{key}.png")  # type: ignore[arg-type]
        cm = confusion_matrix(pred, target, num_classes + 1, ignore_index)
        cache.add(key, {"confusion": cm.ravel().tolist(), "predictions_stamp": stamp})
    size = (num_classes + 1) ** 2
    total = np.zeros(size, dtype=np.int64)
    for record in cache.gather().values():  # every shard's items under torchrun
        total += np.asarray(record["confusion"], dtype=np.int64)
    return total.reshape(num_classes + 1, num_classes + 1)


def class_ious(confusion: NDArray[np.int64], num_classes: int) -> NDArray[np.float64]:
    """(C,) IoU of the real classes (the "none" column counts as a miss); NaN for a class never seen."""
    return iou_per_class(confusion)[:num_classes]


def format_table(ious: NDArray[np.float64], class_names: Sequence[str]) -> str:
    """Text table: IoU per class (percent, "-" when absent from truth and prediction), then mIoU."""
    width = max([len(n) for n in class_names] + [6])
    rows = [f"{'class':<{width}}  {'IoU':>6}"]
    for name, iou in zip(class_names, ious):
        rows.append(f"{name:<{width}}  " + ("     -" if np.isnan(iou) else f"{100 * iou:6.1f}"))
    miou = 100 * float(np.nanmean(ious)) if np.any(~np.isnan(ious)) else float("nan")
    rows.append(f"{'mIoU':<{width}}  {miou:6.1f}")
    return "\n".join(rows)


@dataclass(frozen=True)
class SemanticReport:
    """A semantic run: (C,) IoU per class (NaN where a class is in neither truth nor prediction) and settings."""

    ious: NDArray[np.float64]
    class_names: list[str]
    settings: dict[str, Any]

    @property
    def miou(self) -> float | None:
        """Mean IoU (fraction) over the classes that were seen; None when none was."""
        seen = [float(v) for v in self.ious if not np.isnan(v)]
        return sum(seen) / len(seen) if seen else None

    def table(self) -> str:
        """Text table: IoU per class, then mIoU (percent)."""
        return format_table(self.ious, self.class_names)

    def to_json(self) -> dict[str, Any]:
        """{"mIoU", "settings", "class_iou": {name: IoU or None}} (fractions)."""
        class_iou = {n: (None if np.isnan(v) else float(v)) for n, v in zip(self.class_names, self.ious)}
        return {"mIoU": self.miou, "settings": self.settings, "class_iou": class_iou}


@dataclass(frozen=True)
class SemanticClasses:
    """A label-map dataset's classes: the names of ids 0..C-1 and the label value left out."""

    names: tuple[str, ...]
    ignore_index: int = 255

    @property
    def num_classes(self) -> int:
        return len(self.names)


SEMANTIC_PRESETS = {  # the names `seggpt eval semantic --preset` accepts
    "camvid": SemanticClasses(CAMVID_CLASSES, ignore_index=len(CAMVID_CLASSES)),  # 11 = void
}


@dataclass(frozen=True)
class SemanticOptions:
    """A semantic run: the split to score (images and label maps), its classes, and where prompts come from.

    Attributes:
        train_images, train_labels: the split prompts are drawn from (`choose_prompts`), with a model or baseline.
        num_prompts, seed: how many training images are prompts, and the seed of their choice.
        ensemble, upsample: how the segmenter combines prompts and resizes its output (see `Segmenter`).
        background_index: a class shown as black background in the prompts (see `to_prompt_labels`).
        tuned_prompt: with a model, a prompt from `seggpt tune` instead of training images.
    """

    images: Path
    labels: Path
    classes: SemanticClasses
    train_images: Path | None = None
    train_labels: Path | None = None
    num_prompts: int = 4
    ensemble: Ensemble = "feature"
    seed: int = 0
    background_index: int | None = None
    upsample: Upsample = "nearest"
    tuned_prompt: Path | None = None


def run_semantic(options: SemanticOptions, run: RunOptions) -> Outcome[SemanticReport] | None:
    """Predict every image of the split (prompts set once) or read ``run.source.predictions``; write
    ``run.output/semantic.json``.

    Returns:
        The report and the JSON path on the main process; None on the other torchrun ranks.
    """
    run.check("--predictions")
    classes, source = options.classes, run.source
    pairs = label_map_pairs(options.images, options.labels)
    if source.predictions is not None:  # before run.json: the fixed command may reuse the output folder
        missing = [p for p in (source.predictions / f"{image.stem}.png" for image, _ in pairs) if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} images of {options.images} have no prediction in {source.predictions}, "
                f"e.g. {missing[0]}"
            )
    settings: dict[str, Any] = {"protocol": "semantic", "images": str(options.images.resolve()), "model": source.model,
                                "model_fingerprint": source.fingerprint, "predictions": str(source.predictions),
                                "num_classes": classes.num_classes, "ignore_index": classes.ignore_index,
                                "num_prompts": options.num_prompts, "ensemble": options.ensemble, "seed": options.seed,
                                "tuned_prompt": str(options.tuned_prompt), "baseline": source.baseline,
                                "tuned_prompt_fingerprint": checkpoint_stamp(options.tuned_prompt),
                                "upsample": options.upsample, "background_index": options.background_index}  # fmt: skip
    segmenter = None
    if source.predictions is None or options.tuned_prompt is not None:
        segmenter, prompt_names = _prompted_segmenter(options, run)
        if prompt_names is not None:
            settings["prompts"] = prompt_names
    cache = ResultCache(run.output, settings, resume=run.resume, shard=run.shard)
    confusion = evaluate_semantic(
        tqdm(run.shard.take(pairs), desc="semantic"), classes.num_classes, classes.ignore_index, cache,
        segmenter=segmenter, predictions=source.predictions, dataset_ids=options.tuned_prompt is not None,
        background=options.background_index,
    )  # fmt: skip
    if not run.shard.is_main:
        return None
    report = SemanticReport(class_ious(confusion, classes.num_classes), list(classes.names), settings)
    return Outcome(report, (write_report(report, run.output / "semantic.json"),))


def _prompted_segmenter(options: SemanticOptions, run: RunOptions) -> tuple[ImageSegmenter, list[str] | None]:
    """The run's segmenter with its prompts set, and the names of the training images it was given (None with
    the tuned prompt)."""
    if options.tuned_prompt is not None:
        if run.source.model is None:
            raise ValueError("--tuned-prompt needs --model (the model it was tuned for)")
        from seggpt.inference.tuned_prompt import load_tuned_prompt

        tuned = model_segmenter(run, seg_type="semantic", upsample=options.upsample)
        tuned.set_tuned_prompt(load_tuned_prompt(options.tuned_prompt, tuned.model))
        return tuned, None
    if not (options.train_images and options.train_labels):
        raise ValueError("--model and --baseline need --train-images and --train-labels to draw prompts from")
    train = label_map_pairs(options.train_images, options.train_labels)
    classes = options.classes
    chosen = choose_prompts([p[1] for p in train], options.num_prompts, classes.num_classes, classes.ignore_index,
                            options.seed)  # fmt: skip
    segmenter = image_segmenter(run, seg_type="semantic", ensemble=options.ensemble, upsample=options.upsample)
    set_class_prompts(segmenter, train, chosen, classes.ignore_index, options.background_index)
    return segmenter, [train[i][0].name for i in chosen]
