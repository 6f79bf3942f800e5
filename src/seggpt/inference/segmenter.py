"""`Segmenter`: set the prompts once, then segment any number of query images (like SAM's predictor)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
import torch
from numpy.typing import NDArray
from torch import Tensor

from seggpt.data.io import as_rgb
from seggpt.inference.canvas import Resize, denormalize, fit_to_size, tile_grid
from seggpt.inference.incontext import paint_queries
from seggpt.inference.precision import AUTOCAST_DTYPES, Precision, prepare_model, resolve_dtype
from seggpt.inference.prediction import Prediction, Upsample, decode_colour_output
from seggpt.inference.prompts import MaskType, PromptTargets, load_prompts
from seggpt.inference.tuned_prompt import TunedPrompt, model_fingerprint
from seggpt.model.seggpt import SegGPT, SegType, seg_type_code

Ensemble = Literal["feature", "spatial", "none"]
ImageInput = NDArray[np.uint8] | str | Path


def _refuse_single(items: object, what: str, single_ndim: int) -> None:
    """Refuse one image, mask or path where a list of them is expected (a path would be read letter by letter,
    an array row by row)."""
    if isinstance(items, str | Path) or not hasattr(items, "__len__") or getattr(items, "ndim", 99) <= single_ndim:
        raise TypeError(
            f"{what}: expected a list with one entry per image, got a {type(items).__name__}; to pass one image, "
            "wrap it in a list: [image]"
        )


class Segmenter:
    """In-context segmentation of images with a SegGPT model.

    Prompts (example images with masks) are preprocessed once by `set_prompts`; `segment` then runs any number
    of query images, in batches through the grouped feature ensemble.

    Args:
        model: a SegGPT (e.g. from `seggpt.load_model`); put in eval mode on `device`.
        seg_type: "instance" (the official CLI default) or "semantic" type token.
        ensemble: how several prompts combine. "feature" (the paper's feature ensemble: one canvas per prompt,
            the query's features averaged in every block); "spatial" (the paper's n x n grid: n = ceil(sqrt(P))
            cells, each prompt resized to size / n; if P is not a square the remaining cells repeat the prompts
            from the first on); "none" (each prompt alone; the normalized colour outputs are averaged).
            With one prompt all three are the same single-prompt call.
        resize: "stretch" to the model's query size (official) or "pad" (keep the aspect ratio, pad bottom/right,
            and crop the padding from the output).
        upsample: "nearest" (official: decode, then resize labels nearest) or "bilinear" (resize the colour output
            bilinearly, then decode). Default nearest: it reproduces the official output, and bilinear blends
            two class colours at a boundary into an in-between colour that can decode as a third class.
        device: where the model runs; default the model's device.
        dtype: "auto" (default: bf16 where the hardware runs it natively, else fp32), "fp32", "bf16" or "fp16"
            (autocast; fp16 on GPUs only) or "int8" (dynamically quantised Linear layers, CPU only); see
            `seggpt.inference.precision`. torch dtypes and "float32"/"bfloat16"/"float16" are accepted too.
        batch_size: query images per forward pass (each takes one canvas per prompt with the feature ensemble).
        compile: run the model through `torch.compile` (slow first call; pays off on long runs).
    """

    def __init__(
        self,
        model: SegGPT,
        *,
        seg_type: SegType = "instance",
        ensemble: Ensemble = "feature",
        resize: Resize = "stretch",
        upsample: Upsample = "nearest",
        device: torch.device | str | None = None,
        dtype: Precision | torch.dtype | str = "auto",
        batch_size: int = 4,
        compile: bool = False,
    ):
        seg_type_code(seg_type)  # fails early on an unknown type
        for name, value, allowed in (
            ("ensemble", ensemble, get_args(Ensemble)),
            ("resize", resize, get_args(Resize)),
            ("upsample", upsample, get_args(Upsample)),
        ):
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = torch.device(device) if device is not None else next(model.parameters()).device
        self.dtype = resolve_dtype(dtype, self.device)  # "fp32", "bf16", "fp16" or "int8"
        self.model = model.to(self.device).eval()
        self._runner = prepare_model(model, self.dtype, self.device, compile=compile)  # what runs the forwards
        self.seg_type, self.ensemble, self.resize, self.upsample = seg_type, ensemble, resize, upsample
        self.batch_size = batch_size
        self.query_size: tuple[int, int] = model.config.query_size
        self._prompts: PromptTargets | None = None
        self._prompt_images: Tensor | None = None  # (P', 3, h, w) normalized; P' = 1 for the spatial ensemble
        self._prompt_targets: Tensor | None = None
        self._background = True  # decode black as background; tuned prompts of datasets without one turn it off

    @property
    def class_ids(self) -> NDArray[np.int64]:
        """(K,) the user's class ids of the current prompts."""
        return self._require_prompts().class_ids

    @property
    def colours(self) -> NDArray[np.uint8]:
        """(K + 1, 3) the class colour table of the current prompts (row 0 black)."""
        return self._require_prompts().colours

    def run_settings(self) -> dict[str, Any]:
        """What besides the query decides this segmenter's outputs: the model's weights (`model_fingerprint`),
        the prompts (a digest of their images, targets, classes and colours), type token, ensemble, resize,
        upsample and precision. `segment_files` resumes a folder only over outputs written with equal settings.
        """
        prompts = self._require_prompts()
        digest = hashlib.sha256()
        for tensor in (self._prompt_images, self._prompt_targets):
            assert tensor is not None
            digest.update(tensor.detach().float().cpu().numpy().tobytes())
        digest.update(prompts.class_ids.astype(np.int64).tobytes() + prompts.colours.astype(np.uint8).tobytes())
        return {
            "model": model_fingerprint(self.model),
            "prompts": digest.hexdigest()[:16],
            "seg_type": self.seg_type,
            "ensemble": self.ensemble,
            "resize": self.resize,
            "upsample": self.upsample,
            "precision": self.dtype,
            "background": self._background,
        }

    def _require_prompts(self) -> PromptTargets:
        if self._prompts is None:
            raise RuntimeError("no prompts set: call Segmenter.set_prompts(images, masks) before segment()")
        return self._prompts

    def set_prompts(
        self,
        prompt_images: Sequence[ImageInput],
        prompt_masks: Sequence[NDArray[Any] | str | Path],
        *,
        ignore_value: int | None = None,
        colours: Mapping[int, Sequence[int]] | None = None,
        mask_type: MaskType = "auto",
    ) -> None:
        """Set and preprocess the prompts (example images with their masks) once.

        Args:
            prompt_images: per prompt an (H, W, 3) uint8 RGB image or an image path.
            prompt_masks: per prompt a mask in any form `encode_prompt_masks` takes, or a mask file path.
            ignore_value, colours, mask_type: see `seggpt.inference.prompts.encode_prompt_masks`.

        Raises:
            TypeError: a single image, mask or path instead of a list of them.
            ValueError: unequal counts, unreadable files, or a bad mask (message names the file or prompt).
        """
        _refuse_single(prompt_images, "prompt_images", 3)
        _refuse_single(prompt_masks, "prompt_masks", 2)
        if len(prompt_images) != len(prompt_masks) or not prompt_images:
            raise ValueError(
                f"expected one mask per prompt image, got {len(prompt_images)} images and {len(prompt_masks)} masks"
            )
        images, prompts = load_prompts(
            prompt_images, prompt_masks, ignore_value=ignore_value, colours=colours, mask_type=mask_type
        )
        if self.ensemble == "spatial":
            image_t = tile_grid(images, self.query_size, self.resize, target=False)[None]
            target_t = tile_grid(prompts.targets, self.query_size, self.resize, target=True)[None]
        else:
            image_t = torch.stack([fit_to_size(im, self.query_size, self.resize, False)[0] for im in images])
            target_t = torch.stack([fit_to_size(t, self.query_size, self.resize, True)[0] for t in prompts.targets])
        self._prompt_images, self._prompt_targets = image_t.to(self.device), target_t.to(self.device)
        self._prompts = prompts
        self._background = True

    def set_tuned_prompt(self, tuned: TunedPrompt) -> None:
        """Use a prompt learned by `seggpt tune` (paper section 3.3) instead of example images.

        The output decodes straight to the tuned classes' ids; the type token is the one used in tuning.

        Raises:
            ValueError: the prompt was tuned for another model (config or weights).
        """
        tuned.check_model(self.model)
        order = np.argsort(tuned.class_ids)
        class_ids = np.asarray(tuned.class_ids, dtype=np.int64)[order]
        colours = np.concatenate([np.zeros((1, 3), np.uint8), tuned.colours[order]])
        self._prompt_images = tuned.prompt_image[None].to(self.device)
        self._prompt_targets = tuned.prompt_target[None].to(self.device)
        self._prompts = PromptTargets(targets=[], class_ids=class_ids, colours=colours)
        self._background = tuned.background
        self.seg_type = "semantic" if tuned.seg_type == "semantic" else "instance"

    @torch.inference_mode()
    def _predict_colours(self, queries: Tensor) -> Tensor:
        """(Q, 3, h, w) normalized queries -> (Q, 3, h, w) normalized colour output, one per query."""
        assert self._prompt_images is not None and self._prompt_targets is not None
        feature = self.ensemble == "feature" and self._prompt_images.shape[0] > 1
        out = paint_queries(  # (Q, P, 3, h, w), or (Q, 1, 3, h, w) with the feature ensemble's first canvas only
            self._runner,
            self._prompt_images,
            self._prompt_targets,
            queries,
            seg_type=self.seg_type,
            ensemble=feature,
            autocast_dtype=AUTOCAST_DTYPES.get(self.dtype),
            first_canvas_only=feature,
        )
        if self.ensemble == "none":
            return out.mean(dim=1)
        return out[:, 0]  # as the official code: the first canvas (equal to the others but for the top row)

    def segment(self, query_images: Sequence[ImageInput], *, batch_size: int | None = None) -> list[Prediction]:
        """Segment query images with the current prompts.

        Args:
            query_images: (H, W, 3) uint8 RGB images or image paths, any sizes.
            batch_size: queries per forward pass; default the segmenter's.

        Returns:
            One Prediction per query, at that query's original size.

        Raises:
            RuntimeError: `set_prompts` was not called first.
            TypeError: a single image or path instead of a list of them.
            ValueError: an unreadable or malformed query image (the message names it).
        """
        prompts = self._require_prompts()
        _refuse_single(query_images, "query_images", 3)
        batch_size = batch_size or self.batch_size
        predictions: list[Prediction] = []
        for start in range(0, len(query_images), batch_size):
            images = [
                as_rgb(q, f"query image {start + i}") for i, q in enumerate(query_images[start : start + batch_size])
            ]
            prepared = [fit_to_size(im, self.query_size, self.resize, target=False) for im in images]
            queries = torch.stack([p[0] for p in prepared]).to(self.device)
            colours = self._predict_colours(queries)
            for image, (_, (h, w)), out in zip(images, prepared, colours):
                rgb = torch.from_numpy(denormalize(out[:, :h, :w])).permute(2, 0, 1)  # (3, h, w) in [0, 255]
                predictions.append(
                    decode_colour_output(
                        rgb,
                        image.shape[:2],
                        prompts.class_ids,
                        prompts.colours,
                        self.upsample,
                        query_image=image,
                        background=self._background,
                    )
                )
        return predictions
