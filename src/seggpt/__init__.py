"""SegGPT: segment everything in context. The public API.

Example: `model = seggpt.load_model("seggpt-vit-large")` (or a .pth, .safetensors or transformers folder).
"""

from seggpt.inference.prediction import Prediction
from seggpt.inference.segmenter import Segmenter
from seggpt.inference.video import VideoSegmenter, VideoState
from seggpt.model import SegGPT, SegGPTConfig, build_seggpt, get_preset, load_model, save_model

__all__ = [
    "Prediction",
    "SegGPT",
    "SegGPTConfig",
    "Segmenter",
    "VideoSegmenter",
    "VideoState",
    "build_seggpt",
    "get_preset",
    "load_model",
    "save_model",
]
