"""Inference: prompts -> canvases -> the model -> predictions, for images (`Segmenter`) and videos.

This package's names are the inference API that front ends (the CLI, the web app, scripts) use; its
modules are the implementation. They load on first use, so light submodules (`palette`, `resize`) import
without torch.

- images: `Segmenter`, `Prediction`; many files: `collect_inputs`, `check_outputs`, `segment_files`
  (`batch.py`); output formats: `OUTPUTS`, `parse_formats`, `output_paths`, `write_outputs` (`writers.py`).
- videos: `VideoSegmenter`; frames in: `FrameSource`, `Frame`, `load_first_mask` (`video_io.py`); outputs:
  `VIDEO_OUTPUTS` (`video_outputs.py`); the whole loop: `check_video_outputs`, `run_video` (`video_run.py`).
- options: `PRECISIONS` / `Precision`, `Ensemble`, `Resize`, `Upsample`, with their help texts; tuned prompts:
  `load_tuned_prompt`, `save_tuned_prompt`; several processes: `join_shards`, `Shard`, `leave_shards`.
"""

from typing import TYPE_CHECKING

from seggpt.lazy import lazy_attributes

if TYPE_CHECKING:
    from seggpt.inference.batch import InputFile, SegmentCounts, check_outputs, collect_inputs, segment_files
    from seggpt.inference.canvas import Resize
    from seggpt.inference.precision import COMPILE_HELP, DEVICE_HELP, DTYPE_HELP, PRECISIONS, Precision, resolve_dtype
    from seggpt.inference.prediction import Prediction, Upsample
    from seggpt.inference.prompts import encode_prompt_masks
    from seggpt.inference.resize import nearest_index, resize_image
    from seggpt.inference.segmenter import Ensemble, Segmenter
    from seggpt.inference.shard import Shard, join_shards, leave_shards
    from seggpt.inference.tuned_prompt import TunedPrompt, load_tuned_prompt, save_tuned_prompt
    from seggpt.inference.video import VideoSegmenter, VideoState, check_memory
    from seggpt.inference.video_io import (
        IMAGE_SUFFIXES,
        FirstMask,
        Frame,
        FrameSource,
        davis_palette,
        default_first_mask,
        load_first_mask,
        read_first_mask,
    )
    from seggpt.inference.video_outputs import VIDEO_OUTPUTS, VideoOutput, VideoStyle, check_indexed_ids
    from seggpt.inference.video_run import VideoCounts, check_video_outputs, run_video
    from seggpt.inference.writers import (
        OUTPUTS,
        OutputFormat,
        formats_help,
        output_paths,
        parse_formats,
        write_outputs,
    )

_HOMES = {
    **dict.fromkeys(("InputFile", "SegmentCounts", "check_outputs", "collect_inputs", "segment_files"), "batch"),
    **dict.fromkeys(
        ("COMPILE_HELP", "DEVICE_HELP", "DTYPE_HELP", "PRECISIONS", "Precision", "resolve_dtype"), "precision"
    ),
    **dict.fromkeys(("Prediction", "Upsample"), "prediction"),
    "encode_prompt_masks": "prompts",
    **dict.fromkeys(("nearest_index", "resize_image"), "resize"),
    "Resize": "canvas",
    **dict.fromkeys(("Ensemble", "Segmenter"), "segmenter"),
    **dict.fromkeys(("Shard", "join_shards", "leave_shards"), "shard"),
    **dict.fromkeys(("TunedPrompt", "load_tuned_prompt", "save_tuned_prompt"), "tuned_prompt"),
    **dict.fromkeys(("VideoSegmenter", "VideoState", "check_memory"), "video"),
    **dict.fromkeys(
        (
            "IMAGE_SUFFIXES",
            "FirstMask",
            "Frame",
            "FrameSource",
            "davis_palette",
            "default_first_mask",
            "load_first_mask",
            "read_first_mask",
        ),
        "video_io",
    ),
    **dict.fromkeys(("VIDEO_OUTPUTS", "VideoOutput", "VideoStyle", "check_indexed_ids"), "video_outputs"),
    **dict.fromkeys(("VideoCounts", "check_video_outputs", "run_video"), "video_run"),
    **dict.fromkeys(
        ("OUTPUTS", "OutputFormat", "formats_help", "output_paths", "parse_formats", "write_outputs"), "writers"
    ),
}
__all__ = [
    "COMPILE_HELP",
    "DEVICE_HELP",
    "DTYPE_HELP",
    "IMAGE_SUFFIXES",
    "OUTPUTS",
    "PRECISIONS",
    "VIDEO_OUTPUTS",
    "Ensemble",
    "FirstMask",
    "Frame",
    "FrameSource",
    "InputFile",
    "OutputFormat",
    "Precision",
    "Prediction",
    "Resize",
    "SegmentCounts",
    "Segmenter",
    "Shard",
    "TunedPrompt",
    "Upsample",
    "VideoCounts",
    "VideoOutput",
    "VideoSegmenter",
    "VideoState",
    "VideoStyle",
    "check_indexed_ids",
    "check_memory",
    "check_outputs",
    "check_video_outputs",
    "collect_inputs",
    "davis_palette",
    "default_first_mask",
    "encode_prompt_masks",
    "formats_help",
    "join_shards",
    "leave_shards",
    "load_first_mask",
    "load_tuned_prompt",
    "nearest_index",
    "output_paths",
    "parse_formats",
    "read_first_mask",
    "resize_image",
    "resolve_dtype",
    "run_video",
    "save_tuned_prompt",
    "segment_files",
    "write_outputs",
]
__getattr__, __dir__ = lazy_attributes(__name__, {name: f"{__name__}.{home}" for name, home in _HOMES.items()})
