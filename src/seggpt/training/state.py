"""Exact-resume training state: model, optimizer, step (= data position) and random states, written atomically.

The file is a torch zip of tensors and plain containers only, so it loads with `weights_only=True`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seggpt.atomic import atomic_write


@dataclass
class TrainState:
    """step: the number of optimizer steps done (the next global batch is `step`); config: the run's config dict."""

    model: dict[str, Tensor]
    optimizer: dict[str, Any]
    step: int
    torch_rng: Tensor
    cuda_rng: list[Tensor]
    config: dict[str, Any]


def capture_rng() -> tuple[Tensor, list[Tensor]]:
    """The CPU and (if any) CUDA generator states."""
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []
    return torch.get_rng_state(), cuda


def restore_rng(torch_rng: Tensor, cuda_rng: list[Tensor]) -> None:
    """Restore generator states captured by `capture_rng`."""
    torch.set_rng_state(torch_rng)
    if cuda_rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda_rng)


def save_state(state: TrainState, path: str | Path) -> Path:
    """Write `state` to `path` atomically (a temporary file in the same folder, then `os.replace`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "model": state.model,
        "optimizer": state.optimizer,
        "step": state.step,
        "torch_rng": state.torch_rng,
        "cuda_rng": state.cuda_rng,
        "config": state.config,
        "format": "seggpt-train-state-1",
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_state(path: str | Path) -> TrainState:
    """Read a training state written by `save_state`; anything else is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training state {path} does not exist")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises several types for a corrupt or foreign file
        raise ValueError(f"cannot read training state {path}: {err}") from err
    if not isinstance(payload, dict) or payload.get("format") != "seggpt-train-state-1":
        raise ValueError(f"{path} is not a seggpt training state (written by `seggpt train`)")
    return TrainState(
        payload["model"],
        payload["optimizer"],
        int(payload["step"]),
        payload["torch_rng"],
        list(payload["cuda_rng"]),
        payload["config"],
    )
