"""Inference: prompts -> canvases -> the model -> predictions, for images (`Segmenter`) and videos."""

from seggpt.inference.prediction import Prediction
from seggpt.inference.segmenter import Segmenter

__all__ = ["Prediction", "Segmenter"]
