"""Semi-supervised video object segmentation on DAVIS: predict with a VideoSegmenter, score J and F.

Scoring follows davis2017-evaluation: the objects are the ids 1..max of the first annotation; the first
and last annotated frames are left out; per object, J and F are summarised over frames by mean, recall and
decay; J&F-Mean = (mean over objects of J-Mean + mean over objects of F-Mean) / 2. `run_vos` is the protocol:
predict every sequence (a model or the paste baseline) or take an existing results folder, then score it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from seggpt.atomic import atomic_write
from seggpt.data.davis import DavisSequence, davis_sequences, read_davis_annotation, read_result_labels
from seggpt.evaluation.cache import ResultCache, files_stamp
from seggpt.evaluation.metrics import Statistics, boundary_f_measure, region_similarity, sequence_statistics
from seggpt.evaluation.runs import Outcome, RunOptions, VideoPropagator, video_segmenter, write_report
from seggpt.model.checkpoint import checkpoint_files
from seggpt.safety import check_not_inputs, check_output_file

MEASURES = ("J&F-Mean", "J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


@dataclass(frozen=True)
class ObjectScore:
    """J and F statistics of one object of one sequence (named ``<sequence>_<id>`` as the DAVIS tables)."""

    sequence: str
    object_id: int
    j: Statistics
    f: Statistics

    @property
    def name(self) -> str:
        return f"{self.sequence}_{self.object_id}"

    def to_dict(self) -> dict[str, float | int | str]:
        """JSON-ready record: sequence, object_id and the seven DAVIS measures."""
        return {"sequence": self.sequence, "object_id": self.object_id, **_measures([self])}

    @classmethod
    def from_dict(cls, record: dict) -> ObjectScore:
        j = Statistics(record["J-Mean"], record["J-Recall"], record["J-Decay"])
        f = Statistics(record["F-Mean"], record["F-Recall"], record["F-Decay"])
        return cls(record["sequence"], int(record["object_id"]), j, f)


def score_frames(
    target_labels: Sequence[np.ndarray],
    void_masks: Sequence[np.ndarray],
    pred_labels: Sequence[np.ndarray],
    num_objects: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-object, per-frame J and F of label maps (all frames given are scored).

    Args:
        target_labels, void_masks, pred_labels: per frame (H, W) object ids, void pixels, predicted ids.
        num_objects: objects 1..num_objects are scored; a predicted id above it is an error.

    Returns:
        ``(J, F)``: two (num_objects, T) float64 arrays.
    """
    j = np.zeros((num_objects, len(target_labels)))
    f = np.zeros_like(j)
    for t, (target, void, pred) in enumerate(zip(target_labels, void_masks, pred_labels, strict=True)):
        if pred.shape != target.shape:
            raise ValueError(f"frame {t}: prediction size {pred.shape} differs from the annotation's {target.shape}")
        if pred.size and int(pred.max()) > num_objects:
            raise ValueError(f"frame {t}: predicted object id {int(pred.max())} but the sequence has {num_objects}")
        for k in range(num_objects):
            j[k, t] = region_similarity(target == k + 1, pred == k + 1, void)
            f[k, t] = boundary_f_measure(target == k + 1, pred == k + 1, void)
    return j, f


def scored_annotations(sequence: DavisSequence) -> list[Path]:
    """The annotated frames a sequence is scored on: all but the first and last (a 1- or 2-frame one keeps all)."""
    return list(sequence.annotations[1:-1] or sequence.annotations)


def missing_results(sequences: Sequence[DavisSequence], results_dir: str | Path) -> list[Path]:
    """The results frames ``results_dir/<sequence>/<frame>.png`` that scoring `sequences` needs and cannot find."""
    needed = (Path(results_dir) / s.name / p.name for s in sequences for p in scored_annotations(s))
    return [path for path in needed if not path.is_file()]


def score_sequence(sequence: DavisSequence, results_dir: str | Path) -> list[ObjectScore]:
    """Score ``results_dir/<sequence>/<frame>.png`` against the sequence's annotations (first and last left out)."""
    first, _ = read_davis_annotation(sequence.annotations[0], sequence.year)
    num_objects = int(first.max())
    scored = scored_annotations(sequence)
    targets, voids = zip(*(read_davis_annotation(p, sequence.year) for p in scored))
    preds = [read_result_labels(Path(results_dir) / sequence.name / p.name, sequence.year) for p in scored]
    j, f = score_frames(targets, voids, preds, num_objects)
    return [
        ObjectScore(sequence.name, k + 1, sequence_statistics(j[k]), sequence_statistics(f[k]))
        for k in range(num_objects)
    ]


def predict_sequence(segmenter: VideoPropagator, sequence: DavisSequence, output: str | Path) -> Path:
    """Segment a sequence from its first annotation, writing ``output/<sequence>/<frame>.png`` (indexed PNGs).

    The folder appears only once every frame is written (``ResultWriter``). Returns the sequence's folder.
    """
    from seggpt.data.io import load_rgb
    from seggpt.inference.video_io import davis_palette
    from seggpt.inference.video_outputs import ResultWriter

    first_mask, _ = read_davis_annotation(sequence.annotations[0], sequence.year)
    frames: Iterator[np.ndarray] = (load_rgb(path) for path in sequence.frames)
    folder = Path(output) / sequence.name
    with ResultWriter(folder, davis_palette()) as writer:
        for index, labels in segmenter.propagate(frames, first_mask):
            writer.write(sequence.frames[index].stem, labels)
    return folder


def has_results(sequence: DavisSequence, results_dir: str | Path) -> bool:
    """Whether ``results_dir/<sequence>`` holds a PNG for every annotated frame."""
    folder = Path(results_dir) / sequence.name
    return all((folder / p.name).is_file() for p in sequence.annotations)


def write_submission_zip(results_dir: str | Path, zip_path: str | Path, sequences: Sequence[str] | None = None) -> Path:
    """Pack ``results_dir/<seq>/<frame>.png`` as ``Annotations/<seq>/<frame>.png`` in a zip (YouTube-VOS format).

    The zip is written to a temporary file and moved into place. Returns ``zip_path``.
    """
    results_dir, zip_path = Path(results_dir), Path(zip_path)
    names = sequences if sequences is not None else sorted(p.name for p in results_dir.iterdir() if p.is_dir())
    pngs = [png for name in names for png in sorted((results_dir / name).glob("*.png"))]
    if not pngs:
        raise FileNotFoundError(f"no <seq>/<frame>.png results under {results_dir}")

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for png in pngs:
                archive.write(png, f"Annotations/{png.parent.name}/{png.name}")

    return atomic_write(zip_path, write)


def summarize(scores: Sequence[ObjectScore]) -> dict[str, float]:
    """The seven DAVIS measures averaged over objects (``MEASURES`` order)."""
    if not scores:
        raise ValueError("no objects were scored")
    return _measures(scores)


def format_table(scores: Sequence[ObjectScore]) -> str:
    """A text table: one row per object, then the overall row, with the seven measures."""
    header = f"{'sequence':<24}" + "".join(f"{m:>10}" for m in MEASURES)
    rows = [header, "-" * len(header)]
    for score in scores:
        rows.append(f"{score.name:<24}" + "".join(f"{v:>10.3f}" for v in _measures([score]).values()))
    rows.append("-" * len(header))
    rows.append(f"{'overall':<24}" + "".join(f"{v:>10.3f}" for v in summarize(scores).values()))
    return "\n".join(rows)


def _measures(scores: Sequence[ObjectScore]) -> dict[str, float]:
    j = {k: float(np.mean([getattr(s.j, k) for s in scores])) for k in ("mean", "recall", "decay")}
    f = {k: float(np.mean([getattr(s.f, k) for s in scores])) for k in ("mean", "recall", "decay")}
    values = [(j["mean"] + f["mean"]) / 2, j["mean"], j["recall"], j["decay"], f["mean"], f["recall"], f["decay"]]
    return dict(zip(MEASURES, values))


@dataclass(frozen=True)
class VosReport:
    """A DAVIS run: the J and F of every object, and its settings."""

    scores: list[ObjectScore]
    settings: dict[str, Any]

    def table(self) -> str:
        """One row per object, then the overall row, with the seven DAVIS measures."""
        return format_table(self.scores)

    def to_json(self) -> dict[str, Any]:
        """{"overall": the seven measures, "objects": one record per object, "settings"}."""
        objects = [s.to_dict() for s in self.scores]
        return {"overall": summarize(self.scores), "objects": objects, "settings": self.settings}


@dataclass(frozen=True)
class VosOptions:
    """A DAVIS run: the dataset folder and which of its sequences, the mask encoding, the segmenter's memory.

    Attributes:
        sequences: names to run; default the ``imageset``'s, else every annotated sequence (`davis_sequences`).
        imageset: an ImageSets list (``val``, ``2017/val``, ``val_dev_480p`` or a file).
        year: 2016 or 2017 mask encoding; default guessed per sequence.
        memory: predicted frames the video segmenter keeps as prompts.
        keep_first: keep the first frame as a prompt throughout (the paper); False lets it leave the memory.
        submission_zip: also pack the results as a YouTube-VOS zip there.
    """

    davis_root: Path
    resolution: str = "480p"
    sequences: tuple[str, ...] | None = None
    imageset: str | None = None
    year: int | None = None
    memory: int = 8
    keep_first: bool = True
    submission_zip: Path | None = None


def run_vos(options: VosOptions, run: RunOptions) -> Outcome[VosReport] | None:
    """Predict into ``run.output/<seq>/`` (a model or the baseline) or score ``run.source.predictions``; write
    ``run.output/vos.json`` (and the submission zip).

    Returns:
        The report and the files written on the main process; None on the other torchrun ranks.
    """
    run.check("--results")
    predict = run.source.predictions is None
    if predict and run.source.model is not None:
        from seggpt.inference.video import check_memory

        check_memory(options.memory, options.keep_first, "--memory")  # before the output folder is made
    names = list(options.sequences) if options.sequences is not None else None
    sequences = davis_sequences(options.davis_root, options.resolution, names, options.imageset, options.year)
    results_dir = run.output if run.source.predictions is None else run.source.predictions
    settings = {"protocol": "vos", "davis_root": str(options.davis_root.resolve()), "resolution": options.resolution,
                "results": str(results_dir.resolve()), "model": run.source.model, "memory": options.memory,
                **({} if options.keep_first else {"keep_first": False}),
                "model_fingerprint": run.source.fingerprint, "baseline": run.source.baseline}  # fmt: skip
    inputs = [p for s in sequences for p in (*s.frames, *s.annotations)]
    inputs += [results_dir / s.name / p.name for s in sequences for p in s.annotations] if not predict else []
    inputs += checkpoint_files(run.source.model) if run.source.model is not None else []
    outputs = [run.output / "vos.json"]
    if options.submission_zip is not None:
        check_output_file(options.submission_zip, "--submission-zip")
        outputs.append(options.submission_zip)
    replaced = [run.output / s.name for s in sequences] if predict else []
    check_not_inputs(outputs, inputs, replaced_folders=replaced)
    missing = [] if predict else missing_results(sequences, results_dir)
    if missing:  # before run.json: the fixed command may reuse the output folder
        raise FileNotFoundError(f"results frame {missing[0]} is missing ({len(missing)} frames of --results missing)")
    segmenter = video_segmenter(run, options.memory, options.keep_first) if predict else None  # before run.json
    cache = ResultCache(run.output, settings, resume=run.resume, shard=run.shard)
    mine = run.shard.take(sequences)
    if segmenter is not None:
        for sequence in tqdm(mine, desc="predict"):
            if not (cache.resumed and has_results(sequence, run.output)):  # only this run's own results
                predict_sequence(segmenter, sequence, run.output)
    for sequence in tqdm(mine, desc="score"):
        stamp = files_stamp(results_dir / sequence.name)  # rewritten results are scored again
        if cache.items.get(sequence.name, {}).get("results_stamp") != stamp:
            objects = [s.to_dict() for s in score_sequence(sequence, results_dir)]
            cache.add(sequence.name, {"objects": objects, "results_stamp": stamp})
    cache.gather()
    if not run.shard.is_main:
        return None
    report = VosReport([ObjectScore.from_dict(o) for s in sequences for o in cache.items[s.name]["objects"]], settings)
    written = [write_report(report, run.output / "vos.json")]
    if options.submission_zip is not None:
        written.append(write_submission_zip(results_dir, options.submission_zip, [s.name for s in sequences]))
    return Outcome(report, tuple(written))
