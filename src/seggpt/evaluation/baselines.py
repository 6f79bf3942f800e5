"""Trivial baselines that stand in for the segmenters: the prompt's mask pasted as the answer.

They take the same calls as `Segmenter` (`set_prompts`, `segment`) and `VideoSegmenter` (`propagate`), so
every runner scores them with the same code as a model: a number a model must beat to show it learned
anything beyond copying its example.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from seggpt.data.io import load_mask, load_rgb
from seggpt.inference.palette import colours_to_labels
from seggpt.inference.prediction import Prediction
from seggpt.inference.prompts import MaskType, encode_prompt_masks
from seggpt.inference.resize import upsample_labels


class PastePrompt:
    """Image baseline: every query's answer is the first prompt's mask, resized (nearest) to the query."""

    def __init__(self) -> None:
        self._labels: NDArray[np.int64] | None = None
        self._class_ids: NDArray[np.int64] = np.zeros(0, np.int64)
        self._colours: NDArray[np.uint8] = np.zeros((1, 3), np.uint8)

    def set_prompts(
        self,
        prompt_images: Sequence[Any],
        prompt_masks: Sequence[NDArray[Any] | str | Path],
        *,
        ignore_value: int | None = None,
        colours: Mapping[int, Sequence[int]] | None = None,
        mask_type: MaskType = "auto",
    ) -> None:
        """Encode the masks as `Segmenter.set_prompts` does and keep the first one's class ids (H, W)."""
        if len(prompt_images) != len(prompt_masks) or not prompt_masks:
            raise ValueError(f"expected one mask per prompt image, got {len(prompt_images)} and {len(prompt_masks)}")
        masks = [load_mask(m) if isinstance(m, str | Path) else np.asarray(m) for m in prompt_masks]
        prompts = encode_prompt_masks(masks, ignore_value=ignore_value, colours=colours, mask_type=mask_type)
        index, _ = colours_to_labels(prompts.targets[0], prompts.colours)
        lookup = np.concatenate([[0], prompts.class_ids]).astype(np.int64)
        self._labels, self._class_ids, self._colours = lookup[index], prompts.class_ids, prompts.colours

    def segment(self, query_images: Sequence[Any], *, batch_size: int | None = None) -> list[Prediction]:
        """One Prediction per query: the first prompt's labels at the query's size."""
        if self._labels is None:
            raise RuntimeError("no prompts set: call set_prompts(images, masks) before segment()")
        out = []
        for query in query_images:
            image = load_rgb(query) if isinstance(query, str | Path) else np.asarray(query)
            labels = upsample_labels(self._labels, image.shape[:2])
            index = np.searchsorted(self._class_ids, labels) + 1
            colour = self._colours[np.where(labels > 0, index.clip(max=len(self._colours) - 1), 0)].astype(np.float32)
            confidence = np.ones(labels.shape, np.float32)
            out.append(Prediction(labels, colour, confidence, self._class_ids, self._colours, image))
        return out


class PasteFirstFrame:
    """Video baseline: every frame's answer is the first frame's mask."""

    def propagate(
        self, frames: Iterable[NDArray[np.uint8]], first_mask: NDArray[np.integer], first_frame: Any = None
    ) -> Iterator[tuple[int, NDArray[np.int64]]]:
        """Yield (index, first_mask resized to the frame) for every frame, as `VideoSegmenter.propagate`."""
        first = np.asarray(first_mask).astype(np.int64)
        for index, frame in enumerate(frames):
            yield index, upsample_labels(first, np.asarray(frame).shape[:2])
