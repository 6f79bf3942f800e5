"""Video object segmentation with a memory of recent frames (paper section 2, no video training).

The first frame and its mask are the prompt; the last K predicted frames join it as further prompts, and
all prompts are combined by the model's feature ensemble (K = 8 is the paper's best on DAVIS 2017).
Unlike the official video code, which binarizes its cache, every object keeps its own palette colour in
the memory, so several objects keep their identities through the video.

    segmenter = VideoSegmenter(model, memory=8)
    for index, labels in segmenter.propagate(frames, first_mask):
        ...  # labels: (H, W) int64 object ids
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from seggpt.inference.canvas import denormalize, normalize
from seggpt.inference.incontext import paint_queries
from seggpt.inference.palette import (
    MIN_COLOUR_DISTANCE,
    colours_to_labels,
    labels_to_colours,
    min_colour_distance,
    palette,
)
from seggpt.inference.precision import AUTOCAST_DTYPES, Precision, prepare_model, resolve_dtype
from seggpt.inference.resize import resize_image, resize_labels
from seggpt.model.seggpt import SegGPT, SegType, seg_type_code


@dataclass
class VideoState:
    """Everything the segmenter remembers about one video; bounded however long the video is.

    Attributes:
        frame_size: (H, W) of every frame of the video.
        object_ids: (N,) int64 sorted object ids (background 0 excluded).
        colours: (N + 1, 3) uint8; row 0 black, row i + 1 the colour of `object_ids[i]`.
        anchor_image, anchor_target: (3, h, W) normalized query-size prompt that is always kept (the first
            frame and its mask, or the last corrected frame), or None with keep_first=False.
        memory_images, memory_targets: the last K frames and their predicted colour targets, (3, h, W)
            normalized each, oldest first.
        memory_frames: the frame index of each memory entry, oldest first.
        frame_index: how many frames have been seen (the index of the next frame).
    """

    frame_size: tuple[int, int]
    object_ids: NDArray[np.int64]
    colours: NDArray[np.uint8]
    anchor_image: Tensor | None
    anchor_target: Tensor | None
    memory_images: deque[Tensor]
    memory_targets: deque[Tensor]
    memory_frames: deque[int]
    frame_index: int = 0

    @property
    def num_prompts(self) -> int:
        """Canvases the next `step` feeds to the feature ensemble."""
        return len(self.memory_images) + (self.anchor_image is not None)


def object_colours(object_ids: NDArray[np.int64]) -> NDArray[np.uint8]:
    """(N,) sorted object ids -> (N + 1, 3) uint8 colours: black, then palette(max_id)[id] for each id."""
    if len(object_ids) == 0:
        return np.zeros((1, 3), dtype=np.uint8)
    table = palette(int(object_ids.max()))
    colours = np.concatenate([table[:1], table[object_ids]])
    if min_colour_distance(colours) < MIN_COLOUR_DISTANCE:
        raise ValueError(
            f"object ids up to {int(object_ids.max())} get palette colours closer than {MIN_COLOUR_DISTANCE}: "
            "the model cannot keep them apart; renumber the objects 1..N"
        )
    return colours


class VideoSegmenter:
    """Segments the objects of a first-frame mask through a video, one frame at a time.

    Args:
        model: a SegGPT (`seggpt.load_model` or `build_seggpt`); its `config.query_size` sets the frame size
            the model sees.
        memory: K, the number of most recent predicted frames kept as prompts (the paper's best is 8).
        keep_first: always keep the first frame and its mask as a prompt (as the paper does); without it
            the first frame is the oldest memory entry and leaves after K frames.
        seg_type: "instance" (the official default) or "semantic".
        device: where to run; default the model's device. The model is moved there.
        dtype: precision, "auto" by default (bf16 where the hardware runs it natively, else fp32); "fp32",
            "bf16", "fp16" (GPU) or "int8" (CPU); see `seggpt.inference.precision`.
        compile: run the model through `torch.compile` (slow first frame; pays off on long videos).

    Frames are sequential (each step's memory holds the previous predictions); the prompt canvases of one
    step run as one batch.
    """

    def __init__(
        self,
        model: SegGPT,
        *,
        memory: int = 8,
        keep_first: bool = True,
        seg_type: SegType = "instance",
        device: torch.device | str | None = None,
        dtype: Precision | torch.dtype | str = "auto",
        compile: bool = False,
    ):
        check_memory(memory, keep_first)
        seg_type_code(seg_type)  # fails early on an unknown type
        param = next(model.parameters())
        self.device = torch.device(device) if device is not None else param.device
        self.dtype = resolve_dtype(dtype, self.device)  # "fp32", "bf16", "fp16" or "int8"
        self.model = model.to(self.device).eval()
        self._runner = prepare_model(model, self.dtype, self.device, compile=compile)
        self._input_dtype = torch.float32 if self.dtype == "int8" else param.dtype  # canvases match the weights
        self.memory = memory
        self.keep_first = keep_first
        self.seg_type = seg_type
        self.query_size = model.config.query_size

    def init_state(self, first_frame: NDArray[np.uint8], first_mask: NDArray[np.integer]) -> VideoState:
        """Start a video from its first frame and mask.

        Args:
            first_frame: (H, W, 3) uint8 RGB.
            first_mask: (H, W) integer label map of object ids, 0 = background.

        Returns:
            A fresh state holding the first frame as prompt; the next `step` is frame 1.
        """
        _check_frame(first_frame, None, "first frame")
        frame_size = (first_frame.shape[0], first_frame.shape[1])
        labels = self._check_mask(first_mask, frame_size)
        object_ids = np.unique(labels[labels > 0]).astype(np.int64)
        state = VideoState(
            frame_size=frame_size,
            object_ids=object_ids,
            colours=object_colours(object_ids),
            anchor_image=None,
            anchor_target=None,
            memory_images=deque(maxlen=self.memory),
            memory_targets=deque(maxlen=self.memory),
            memory_frames=deque(maxlen=self.memory),
        )
        self._restart(state, first_frame, labels)
        return state

    def add_mask(self, state: VideoState, frame: NDArray[np.uint8], mask: NDArray[np.integer]) -> None:
        """Restart from a corrected mask of the current frame (it is frame `state.frame_index`, not stepped).

        The corrected frame takes the first frame's role: the memory of predictions (which led to the
        error) is emptied, and the frame with its mask replaces the kept prompt (keep_first; the original
        first frame is dropped) or becomes the only memory entry. Object ids new in `mask` join the video
        (colours are recomputed from the new largest id; every stored prompt is rebuilt from `mask`, so they
        stay consistent); ids missing from `mask` stay decodable but have no prompt until a later correction.

        Args:
            frame: (H, W, 3) uint8 RGB of the video's frame size.
            mask: (H, W) integer label map of object ids.
        """
        _check_frame(frame, state.frame_size, f"frame {state.frame_index}")
        labels = self._check_mask(mask, state.frame_size)
        object_ids = np.union1d(state.object_ids, np.unique(labels[labels > 0])).astype(np.int64)
        state.colours = object_colours(object_ids)
        state.object_ids = object_ids
        state.memory_images.clear()
        state.memory_targets.clear()
        state.memory_frames.clear()
        self._restart(state, frame, labels)

    @torch.inference_mode()
    def step(self, state: VideoState, frame: NDArray[np.uint8]) -> NDArray[np.int64]:
        """Segment the next frame and remember its prediction.

        Args:
            frame: (H, W, 3) uint8 RGB of the video's frame size.

        Returns:
            (H, W) int64 label map of object ids (0 = background).
        """
        _check_frame(frame, state.frame_size, f"frame {state.frame_index}")
        query = self._image(frame)
        prompt_images = torch.stack(_prompts(state.anchor_image, state.memory_images))  # (n, 3, h, W)
        prompt_targets = torch.stack(_prompts(state.anchor_target, state.memory_targets))
        out = paint_queries(  # the official code reads the first canvas: decode only it
            self._runner, prompt_images, prompt_targets, query[None], seg_type=self.seg_type, ensemble=True,
            autocast_dtype=AUTOCAST_DTYPES.get(self.dtype), first_canvas_only=True,
        )  # (1, 1, 3, h, W)  # fmt: skip
        index, _ = colours_to_labels(denormalize(out[0, 0]), state.colours)  # (h, W) into [0] + object_ids
        self._remember(state, query, index)
        ids = np.concatenate([[0], state.object_ids]).astype(np.int64)
        labels = ids[resize_labels(index, state.frame_size)]
        state.frame_index += 1
        return labels

    def propagate(
        self,
        frames: Iterable[NDArray[np.uint8]],
        first_mask: NDArray[np.integer],
        first_frame: NDArray[np.uint8] | None = None,
    ) -> Iterator[tuple[int, NDArray[np.int64]]]:
        """Segment a whole video lazily, one frame at a time.

        Args:
            frames: iterable of (H, W, 3) uint8 RGB frames (may be a lazy stream).
            first_mask: (H, W) label map of object ids for the first frame.
            first_frame: the prompt image, when it is not the first of `frames`; then every frame is predicted.

        Yields:
            (index, labels): the frame's index in `frames` and its (H, W) int64 object ids; with
            `first_frame` None, index 0 yields the first mask itself.
        """
        iterator = iter(frames)
        start = 0
        if first_frame is None:
            first_frame = next(iterator, None)
            if first_frame is None:
                raise ValueError("the video has no frames")
            start = 1
        state = self.init_state(first_frame, first_mask)
        if start:
            yield 0, np.asarray(first_mask).astype(np.int64)
        for index, frame in enumerate(iterator, start=start):
            yield index, self.step(state, frame)

    def _restart(self, state: VideoState, frame: NDArray[np.uint8], labels: NDArray[np.int64]) -> None:
        """Make (frame, labels) the kept prompt (keep_first) or the first memory entry."""
        image = self._image(frame)
        index = np.where(labels > 0, np.searchsorted(state.object_ids, labels) + 1, 0)  # into state.colours
        index = resize_labels(index, self.query_size)
        if self.keep_first:
            state.anchor_image, state.anchor_target = image, self._target(state, index)
        else:
            state.anchor_image = state.anchor_target = None
            self._remember(state, image, index)
        state.frame_index += 1

    def _remember(self, state: VideoState, image: Tensor, index: NDArray[np.int64]) -> None:
        """Push a frame and its colour target (from (h, W) indexes into state.colours) into the FIFO memory."""
        if self.memory == 0:
            return
        state.memory_images.append(image)
        state.memory_targets.append(self._target(state, index))
        state.memory_frames.append(state.frame_index)

    def _image(self, frame: NDArray[np.uint8]) -> Tensor:
        return normalize(resize_image(frame, self.query_size)).to(self.device, self._input_dtype)

    def _target(self, state: VideoState, index: NDArray) -> Tensor:
        return normalize(labels_to_colours(index.astype(np.int64), state.colours)).to(self.device, self._input_dtype)

    def _check_mask(self, mask: NDArray[np.integer], frame_size: tuple[int, int]) -> NDArray[np.int64]:
        mask = np.asarray(mask)
        if mask.ndim != 2 or (not np.issubdtype(mask.dtype, np.integer) and mask.dtype != bool):
            raise ValueError(f"a mask must be an (H, W) integer label map, got {mask.dtype} of shape {mask.shape}")
        if mask.shape != frame_size:
            raise ValueError(f"mask size {mask.shape} differs from the frame size {frame_size} (H, W)")
        if mask.size and mask.min() < 0:
            raise ValueError(f"object ids must be >= 0, got {int(mask.min())}")
        return mask.astype(np.int64)


def check_memory(memory: int, keep_first: bool, name: str = "memory") -> None:
    """A one-line error (naming `name`) unless the memory K leaves a prompt: K >= 1, or K = 0 with the first
    frame kept."""
    if memory < 0 or (memory == 0 and not keep_first):
        raise ValueError(f"{name} must be >= 1 (or 0 with the first frame kept), got {memory}")


def _check_frame(frame: NDArray[np.uint8], size: tuple[int, int] | None, what: str) -> None:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"{what} must be an (H, W, 3) uint8 RGB array, got {getattr(frame, 'shape', type(frame))}")
    if size is not None and frame.shape[:2] != size:
        raise ValueError(f"{what} has size {frame.shape[:2]}, but the video's frames are {size} (H, W)")


def _prompts(anchor: Tensor | None, memory: deque[Tensor]) -> list[Tensor]:
    return ([anchor] if anchor is not None else []) + list(memory)
