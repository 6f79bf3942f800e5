"""The SegGPT model: config and presets, layers, the network, checkpoints. Imports no other part of seggpt."""

from seggpt.model.checkpoint import checkpoint_files, config_files, load_model, save_model
from seggpt.model.config import PRESETS, SegGPTConfig, get_preset
from seggpt.model.seggpt import SegGPT, SegType, build_seggpt

__all__ = [
    "PRESETS",
    "SegGPT",
    "SegGPTConfig",
    "SegType",
    "build_seggpt",
    "checkpoint_files",
    "config_files",
    "get_preset",
    "load_model",
    "save_model",
]
