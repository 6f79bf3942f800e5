"""In-context tuning: learning a prompt with the model frozen (`tune_prompt`), on a dataset (`tune_dataset`).

The CLI is `seggpt tune`; the names below load on first use.
"""

from typing import TYPE_CHECKING

from seggpt.lazy import lazy_attributes

if TYPE_CHECKING:
    from seggpt.tuning.datasets import tune_dataset
    from seggpt.tuning.tuner import TuneConfig, TuneState, tune_prompt

__all__ = ["TuneConfig", "TuneState", "tune_dataset", "tune_prompt"]
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "TuneConfig": "seggpt.tuning.tuner",
        "TuneState": "seggpt.tuning.tuner",
        "tune_dataset": "seggpt.tuning.datasets",
        "tune_prompt": "seggpt.tuning.tuner",
    },
)
