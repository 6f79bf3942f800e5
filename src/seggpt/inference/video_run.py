"""Segmenting a whole video into its outputs: the frame loop that `seggpt video` and the web app's video tab share.

source = FrameSource("frames/")
first = load_first_mask("first_mask.png")
outputs = {"frames": Path("results/seq"), "overlay": Path("results/seq.mp4")}  # names of VIDEO_OUTPUTS
check_video_outputs(outputs, source, prompts=[Path("first_mask.png")])
counts = run_video(VideoSegmenter(model), source, first, outputs, fps=source.fps, declared=source.count)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from seggpt.atomic import clean_stale_temps
from seggpt.inference.video_io import FirstMask, Frame, FrameSource
from seggpt.inference.video_outputs import VIDEO_OUTPUTS, VideoStyle
from seggpt.safety import check_not_inputs

if TYPE_CHECKING:
    from seggpt.inference.video import VideoSegmenter, VideoState


@dataclass(frozen=True)
class VideoCounts:
    """What `run_video` did: frames segmented and written, and the count the source declared (None: unknown)."""

    frames: int
    declared: int | None = None

    @property
    def truncated(self) -> bool:
        """The source declared more frames than could be decoded."""
        return self.declared is not None and self.frames < self.declared

    def shortfall(self, video: str) -> str:
        """One line saying how many frames `video` declared and how many were decoded."""
        return f"{video} declares {self.declared} frames but only {self.frames} could be decoded (truncated?)"


def check_video_outputs(outputs: Mapping[str, Path], source: FrameSource, prompts: Sequence[Path]) -> None:
    """Before any model work: no output (`VIDEO_OUTPUTS` name -> path) is an input (the video, its frames, the
    files in `prompts`: the prompt mask and image, the model file), and the frames folder, which the results
    replace, holds no input; litter of killed runs next to the outputs is removed.

    Raises:
        OutputError: an output is an input, or the frames folder holds one.
    """
    planned = [p for name, path in outputs.items() for p in VIDEO_OUTPUTS[name].paths(path, source.frame_names)]
    inputs = [*source.files, *prompts]
    replaced = [outputs["frames"]] if "frames" in outputs else []
    check_not_inputs(planned, inputs if source.files else [*inputs, source.path], replaced_folders=replaced)
    for folder in {path.parent for path in outputs.values()}:
        clean_stale_temps(folder)


def run_video(
    segmenter: VideoSegmenter,
    frames: Iterable[Frame],
    first: FirstMask,
    outputs: Mapping[str, Path],
    *,
    fps: float,
    rle: bool = False,
    first_frame: Frame | None = None,
    video_name: str = "the video",
    declared: int | None = None,
    strict: bool = False,
    on_frame: Callable[[int], None] | None = None,
) -> VideoCounts:
    """Segment the first mask's objects through `frames` and write every output; all or nothing.

    Args:
        segmenter: the VideoSegmenter (memory, precision, type token).
        frames: the video's frames in order, e.g. a `FrameSource` (read lazily).
        first: the prompt mask; it belongs to `first_frame`, or else to the first of `frames` (which is then
            written as the mask itself, not predicted).
        outputs: `VIDEO_OUTPUTS` name -> its path (a folder for "frames", a file for "overlay").
        fps: frames per second of the overlay video.
        rle: the frames folder also gets `masks_rle.json`.
        first_frame: the image `first` belongs to when it is not the video's first frame.
        video_name: the video, in messages.
        declared: the frame count the source declared; fewer decoded frames are truncation.
        strict: on truncation raise (writing nothing) instead of returning counts with `truncated` set.
        on_frame: called with the number of frames done after each frame.

    Raises:
        ValueError: a mask of another size than the frames; truncation with `strict`; a bad frame.
    """
    style = VideoStyle(fps, first.palette, rle=rle)
    state: VideoState | None = segmenter.init_state(first_frame.rgb, first.labels) if first_frame else None
    done = 0
    with contextlib.ExitStack() as stack:  # entered in order, closed in reverse: each commits only on success
        sinks = [stack.enter_context(VIDEO_OUTPUTS[name].open(path, style)) for name, path in outputs.items()]
        for frame in frames:
            if state is None:  # the video's own first frame is the prompt
                first.check_size(frame.rgb.shape[:2], f"the frames of {video_name} are")
                state, labels = segmenter.init_state(frame.rgb, first.labels), first.labels
            else:
                labels = segmenter.step(state, frame.rgb)
            for sink in sinks:
                sink.add(frame, labels)
            done += 1
            if on_frame is not None:
                on_frame(done)
        counts = VideoCounts(done, declared)
        if strict and counts.truncated:
            raise ValueError(f"{counts.shortfall(video_name)}; nothing was written (--strict)")
    return counts
