"""In-context tuning: learning a prompt with the model frozen (`tune_prompt`), on a dataset (`tune_dataset`) or
on a few examples (`prompt_dataset`).

The CLI is `seggpt tune`; the names below load on first use.
"""

from typing import TYPE_CHECKING

from seggpt.lazy import lazy_attributes

if TYPE_CHECKING:
    from seggpt.tuning.datasets import prompt_dataset, tune_dataset
    from seggpt.tuning.tuner import TuneConfig, TuneState, tune_prompt

__all__ = ["TuneConfig", "TuneState", "prompt_dataset", "tune_dataset", "tune_prompt"]
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "TuneConfig": "seggpt.tuning.tuner",
        "TuneState": "seggpt.tuning.tuner",
        "prompt_dataset": "seggpt.tuning.datasets",
        "tune_dataset": "seggpt.tuning.datasets",
        "tune_prompt": "seggpt.tuning.tuner",
    },
)
