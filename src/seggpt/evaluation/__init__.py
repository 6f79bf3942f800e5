"""Evaluation with the paper's protocols.

`metrics` and `panoptic` are pure numpy (few-shot mIoU / FB-IoU, semantic mIoU, DAVIS J and F, PQ). The runners
`fewshot.run_fewshot`, `vos.run_vos` and `semantic.run_semantic` take their protocol's options and a `RunOptions`
(the `Source`: a model, a baseline or existing predictions; device, precision, output folder, resume, shard) and
return an `Outcome` (the report, with `.table()` and `.to_json()`, and the files written); `cache` makes runs
resumable, `baselines` holds the paste stand-ins. The CLI is `seggpt eval`.

The names below load on first use, so that `import seggpt.evaluation.metrics` stays light.
"""

from typing import TYPE_CHECKING

from seggpt.lazy import lazy_attributes

if TYPE_CHECKING:
    from seggpt.evaluation.fewshot import FewShotOptions, FewShotReport, run_fewshot
    from seggpt.evaluation.runs import Baseline, Outcome, RunOptions, Source
    from seggpt.evaluation.semantic import (
        SEMANTIC_PRESETS,
        SemanticClasses,
        SemanticOptions,
        SemanticReport,
        run_semantic,
    )
    from seggpt.evaluation.vos import VosOptions, VosReport, run_vos

__all__ = [
    "SEMANTIC_PRESETS",
    "Baseline",
    "FewShotOptions",
    "FewShotReport",
    "Outcome",
    "RunOptions",
    "SemanticClasses",
    "SemanticOptions",
    "SemanticReport",
    "Source",
    "VosOptions",
    "VosReport",
    "run_fewshot",
    "run_semantic",
    "run_vos",
]
_HOMES = {
    **dict.fromkeys(("FewShotOptions", "FewShotReport", "run_fewshot"), "seggpt.evaluation.fewshot"),
    **dict.fromkeys(("Baseline", "Outcome", "RunOptions", "Source"), "seggpt.evaluation.runs"),
    **dict.fromkeys(
        ("SEMANTIC_PRESETS", "SemanticClasses", "SemanticOptions", "SemanticReport", "run_semantic"),
        "seggpt.evaluation.semantic",
    ),
    **dict.fromkeys(("VosOptions", "VosReport", "run_vos"), "seggpt.evaluation.vos"),
}
__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
