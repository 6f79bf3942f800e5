"""What every evaluation run shares: where its predictions come from, how it runs, and what it hands back.

A runner (`fewshot.run_fewshot`, `vos.run_vos`, `semantic.run_semantic`) takes its protocol's options and a
`RunOptions`, keeps finished items in ``output`` (resumable, see `cache`), writes its JSON report on the main
process and returns an `Outcome` there (None on the other torchrun ranks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeAlias, TypeVar

from seggpt.evaluation.cache import checkpoint_stamp, write_json
from seggpt.inference.shard import Shard
from seggpt.safety import check_device, check_output_folder

if TYPE_CHECKING:
    from seggpt.evaluation.baselines import PasteFirstFrame, PastePrompt
    from seggpt.inference.precision import Precision
    from seggpt.inference.segmenter import Segmenter
    from seggpt.inference.video import VideoSegmenter
    from seggpt.model import SegGPT

Baseline = Literal["paste"]  # the prompt's mask (or the first frame's) pasted as the answer


@dataclass(frozen=True)
class Source:
    """What a run scores: a model (checkpoint file or name), a trivial baseline, or a folder of predictions.

    Exactly one is given (`check`); ``predictions`` only where the protocol reads them (vos, semantic).
    """

    model: str | None = None
    baseline: Baseline | None = None
    predictions: Path | None = None

    def check(self, predictions_option: str | None = None) -> None:
        """A one-line error naming the options unless exactly one source is given (``predictions_option``: the
        protocol's name for ``predictions``, None where it has none)."""
        options = ["--model", "--baseline", *([predictions_option] if predictions_option else [])]
        given = sum(value is not None for value in (self.model, self.baseline, self.predictions))
        if given != 1:
            raise ValueError(f"give exactly one of {', '.join(options)} (got {given})")

    @property
    def fingerprint(self) -> str | None:
        """What identifies the model's weights (`cache.checkpoint_stamp`); None without a model."""
        return checkpoint_stamp(self.model)


@dataclass(frozen=True)
class RunOptions:
    """How a run executes: its source, the model's device and precision, the output folder, resume, shard."""

    source: Source
    output: Path
    device: str = "cpu"
    dtype: Precision = "auto"
    compile: bool = False
    resume: bool = True
    shard: Shard = field(default_factory=Shard)

    def check(self, predictions_option: str | None = None) -> None:
        """Exactly one source (see `Source.check`), a usable device and an output folder that can be written."""
        self.source.check(predictions_option)
        check_device(self.device)
        check_output_folder(self.output, "--output")


class Report(Protocol):
    """A protocol's report: a text table and a JSON-ready record."""

    def table(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


ReportT = TypeVar("ReportT", bound=Report)


@dataclass(frozen=True)
class Outcome(Generic[ReportT]):
    """A finished run (on the main process): its report and the files written (the JSON report first)."""

    report: ReportT
    written: tuple[Path, ...]


def write_report(report: Report, path: Path) -> Path:
    """Write ``report.to_json()`` to ``path`` atomically; returns ``path``."""
    write_json(path, report.to_json())
    return path


# What the image runners call (`set_prompts`, `segment`) and what the video runner calls (`propagate`): a
# segmenter over a model, or the baseline that stands in for it with the same calls.
ImageSegmenter: TypeAlias = "Segmenter | PastePrompt"
VideoPropagator: TypeAlias = "VideoSegmenter | PasteFirstFrame"


def load_run_model(run: RunOptions) -> SegGPT:
    """The run's model, on its device."""
    from seggpt.model import load_model

    if run.source.model is None:
        raise ValueError("this run needs --model")
    return load_model(run.source.model, device=run.device)


def model_segmenter(run: RunOptions, **options: Any) -> Segmenter:
    """A `Segmenter` over the run's model with its device, precision and compile flag (``options``: the rest)."""
    from seggpt.inference.segmenter import Segmenter

    return Segmenter(load_run_model(run), device=run.device, dtype=run.dtype, compile=run.compile, **options)


def image_segmenter(run: RunOptions, **options: Any) -> ImageSegmenter:
    """`model_segmenter`, or the `PastePrompt` baseline when the run's source is ``baseline="paste"``."""
    if run.source.baseline == "paste":
        from seggpt.evaluation.baselines import PastePrompt

        return PastePrompt()
    return model_segmenter(run, **options)


def video_segmenter(run: RunOptions, memory: int, keep_first: bool = True) -> VideoPropagator:
    """A `VideoSegmenter` keeping ``memory`` predicted frames as prompts (and the first frame, with ``keep_first``),
    or the `PasteFirstFrame` baseline."""
    if run.source.baseline == "paste":
        from seggpt.evaluation.baselines import PasteFirstFrame

        return PasteFirstFrame()
    from seggpt.inference.video import VideoSegmenter

    return VideoSegmenter(
        load_run_model(run), memory=memory, keep_first=keep_first, device=run.device, dtype=run.dtype,
        compile=run.compile,
    )  # fmt: skip
