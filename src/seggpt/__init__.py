"""SegGPT: segment everything in context. The public API.

Example: `model = seggpt.load_model("seggpt-vit-large")` (or a .pth, .safetensors or transformers folder).

The names below load on first use, so that light submodules (`seggpt.evaluation.metrics`,
`seggpt.inference.palette`) import without torch and the rest of the package.
"""

from typing import TYPE_CHECKING

from seggpt.lazy import lazy_attributes

if TYPE_CHECKING:
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
_HOMES = {
    "Prediction": "seggpt.inference.prediction",
    "Segmenter": "seggpt.inference.segmenter",
    "VideoSegmenter": "seggpt.inference.video",
    "VideoState": "seggpt.inference.video",
    **dict.fromkeys(
        ("SegGPT", "SegGPTConfig", "build_seggpt", "get_preset", "load_model", "save_model"), "seggpt.model"
    ),
}
__getattr__, __dir__ = lazy_attributes(__name__, _HOMES)
