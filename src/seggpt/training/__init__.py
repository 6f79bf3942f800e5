"""Training and fine-tuning with in-context colouring (paper 3.1, 4.2), alone or under torchrun.

`seggpt train CONFIG.yaml --set key=value` is the command; in Python:
`Trainer(load_config("configs/train_tiny_camvid_davis.yaml", ["data.camvid_root=..."])).fit()`.
The names below load on first use, so `seggpt.training.pairs` imports without the trainer.
"""

from typing import TYPE_CHECKING

from seggpt.lazy import lazy_attributes

if TYPE_CHECKING:
    from seggpt.training import distributed
    from seggpt.training.config import TrainConfig, load_config
    from seggpt.training.pairs import Example, PairOptions, build_example
    from seggpt.training.state import check_run_folder
    from seggpt.training.trainer import Trainer

__all__ = [
    "Example",
    "PairOptions",
    "TrainConfig",
    "Trainer",
    "build_example",
    "check_run_folder",
    "distributed",
    "load_config",
]
__getattr__, __dir__ = lazy_attributes(
    __name__,
    {
        "Example": "seggpt.training.pairs",
        "PairOptions": "seggpt.training.pairs",
        "TrainConfig": "seggpt.training.config",
        "Trainer": "seggpt.training.trainer",
        "build_example": "seggpt.training.pairs",
        "check_run_folder": "seggpt.training.state",
        "load_config": "seggpt.training.config",
    },
    submodules=("distributed",),
)
