"""A tuned prompt (paper section 3.3): a learned prompt image and target that replace real examples.

`seggpt.tuning` learns one; this module stores it and `Segmenter.set_tuned_prompt` uses it.

The file is a small safetensors holding the two tensors, plus metadata: the class ids, names and colours
(so the output decodes straight to class ids), the type token, and the model it was tuned for (its config
and a fingerprint of its weights). Loading it for another model is an error.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor

from seggpt.atomic import atomic_write
from seggpt.model.seggpt import SegGPT

FORMAT = "seggpt-tuned-prompt"


def model_fingerprint(model: SegGPT) -> str:
    """A short hash of the model's weights (names, shapes, and a strided sample of each tensor's values).

    Values are rounded to bfloat16 first, so the same weights loaded in float32 or bfloat16 agree.
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 512)][:512].to("cpu", torch.bfloat16).float()
        digest.update(f"{name}:{tuple(tensor.shape)}".encode())
        digest.update(sample.numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class TunedPrompt:
    """A learned prompt for a fixed task.

    Attributes:
        prompt_image: (3, h, W) float32, ImageNet-normalized prompt image (one canvas half).
        prompt_target: (3, h, W) float32, normalized prompt target.
        class_ids: the dataset's label value of each class, in output order.
        class_names: one name per class.
        colours: (K, 3) uint8 colour of each class; with `background`, row 0 is black for label 0.
        background: whether black decodes to a background label 0 (else every pixel gets a class).
        seg_type: the type token used while tuning ("semantic" or "instance").
        model_config: the config dict of the model it was tuned for.
        model_fingerprint: `model_fingerprint` of that model.
    """

    prompt_image: Tensor
    prompt_target: Tensor
    class_ids: list[int]
    class_names: list[str]
    colours: NDArray[np.uint8]
    background: bool
    seg_type: str
    model_config: dict
    model_fingerprint: str

    def check_model(self, model: SegGPT, source: str = "tuned prompt") -> None:
        """Raise ValueError unless `model` is the one this prompt was tuned for."""
        if model.config.to_dict() != self.model_config:
            raise ValueError(
                f"{source} was tuned for a model with config {self.model_config}, not {model.config.to_dict()}"
            )
        expected = (3, *model.config.query_size)
        if tuple(self.prompt_image.shape) != expected:
            raise ValueError(
                f"{source} holds a prompt of shape {tuple(self.prompt_image.shape)}, but its model takes {expected}; "
                "the file is damaged: tune it again with `seggpt tune`"
            )
        fingerprint = model_fingerprint(model)
        if fingerprint != self.model_fingerprint:
            raise ValueError(
                f"{source} was tuned for other weights (fingerprint {self.model_fingerprint}, this model has "
                f"{fingerprint}); tune a prompt for this model with `seggpt tune`"
            )


def save_tuned_prompt(prompt: TunedPrompt, path: str | Path) -> Path:
    """Write `prompt` to a safetensors file atomically (temp file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "format": FORMAT,
        "class_ids": json.dumps(prompt.class_ids),
        "class_names": json.dumps(prompt.class_names),
        "colours": json.dumps(prompt.colours.tolist()),
        "background": json.dumps(prompt.background),
        "seg_type": prompt.seg_type,
        "model_config": json.dumps(prompt.model_config),
        "model_fingerprint": prompt.model_fingerprint,
    }
    tensors = {
        "prompt_image": prompt.prompt_image.detach().float().cpu().contiguous(),
        "prompt_target": prompt.prompt_target.detach().float().cpu().contiguous(),
    }
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_tuned_prompt(path: str | Path, model: SegGPT | None = None) -> TunedPrompt:
    """Read a tuned prompt; with `model`, also check that it was tuned for that model."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"tuned prompt {path} is a folder; expected the .safetensors file `seggpt tune` wrote")
    if not path.is_file():
        raise FileNotFoundError(f"tuned prompt {path} does not exist")
    try:
        tensors = load_file(path)
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as err:
        raise ValueError(f"{path} is not a tuned prompt file (a safetensors written by `seggpt tune`): {err}") from err
    if metadata.get("format") != FORMAT or set(tensors) != {"prompt_image", "prompt_target"}:
        raise ValueError(f"{path} is not a tuned prompt file (expected format {FORMAT!r} written by `seggpt tune`)")
    damaged = f"tuned prompt {path} is damaged"
    try:
        prompt = TunedPrompt(
            prompt_image=tensors["prompt_image"],
            prompt_target=tensors["prompt_target"],
            class_ids=[int(i) for i in json.loads(metadata["class_ids"])],
            class_names=[str(n) for n in json.loads(metadata["class_names"])],
            colours=np.asarray(json.loads(metadata["colours"]), dtype=np.uint8).reshape(-1, 3),
            background=bool(json.loads(metadata["background"])),
            seg_type=metadata["seg_type"],
            model_config=json.loads(metadata["model_config"]),
            model_fingerprint=metadata["model_fingerprint"],
        )
    except KeyError as err:
        raise ValueError(f"{damaged}: its metadata lacks {err}; tune it again with `seggpt tune`") from err
    except (ValueError, TypeError) as err:
        raise ValueError(f"{damaged}: unreadable metadata ({err}); tune it again with `seggpt tune`") from err
    image, target = prompt.prompt_image, prompt.prompt_target
    checks = [
        (
            image.is_floating_point() and image.ndim == 3 and image.shape[0] == 3 and image.shape == target.shape,
            f"the prompt is not two float (3, h, w) tensors of one shape (got {tuple(image.shape)}, "
            f"{tuple(target.shape)})",
        ),
        (bool(torch.isfinite(image).all() and torch.isfinite(target).all()), "the prompt holds NaN or infinite values"),
        (prompt.seg_type in ("semantic", "instance"), f"type token {prompt.seg_type!r}, expected semantic or instance"),
        (
            len(prompt.class_ids) == len(prompt.class_names) == len(prompt.colours),
            f"{len(prompt.class_ids)} class ids, {len(prompt.class_names)} names, {len(prompt.colours)} colours",
        ),
    ]
    for ok, problem in checks:
        if not ok:
            raise ValueError(f"{damaged}: {problem}; tune it again with `seggpt tune`")
    if model is not None:
        prompt.check_model(model, source=f"tuned prompt {path}")
    return prompt
