"""Inference: prompts -> canvases -> the model -> predictions, for images (`Segmenter`) and videos.

`Prediction` and `Segmenter` load on first use, so light submodules (`palette`, `io`) import without torch.
"""

from typing import TYPE_CHECKING

from seggpt.lazy import lazy_attributes

if TYPE_CHECKING:
    from seggpt.inference.prediction import Prediction
    from seggpt.inference.segmenter import Segmenter

__all__ = ["Prediction", "Segmenter"]
__getattr__, __dir__ = lazy_attributes(
    __name__, {"Prediction": "seggpt.inference.prediction", "Segmenter": "seggpt.inference.segmenter"}
)
