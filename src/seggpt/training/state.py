"""Exact-resume training state: model, optimizer, step (= data position) and random states, written atomically.

The file is a torch zip of tensors and plain containers only, so it loads with `weights_only=True`.
A run folder is guarded: a new run never starts over an earlier run's files unless told to (`run.resume` or
`run.overwrite`), and a resume refuses config changes that would break exactness (`resume_differences`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from seggpt.atomic import atomic_write
from seggpt.model.files import TRAIN_STATE_FORMAT, load_torch_file
from seggpt.safety import check_not_inputs

RUN_FILES = ("last.pt", "model.safetensors", "log.csv")  # what makes a folder hold a run
SAFE_RESUME_KEYS = frozenset(  # config keys a resume may change: they do not touch the trained weights' path
    {
        "run.steps",  # train longer (or stop earlier); the cosine schedule follows the new total from here on
        "run.stop_at",  # a sitting's end: the schedule of run.steps is unchanged
        "run.resume",
        "run.overwrite",
        "run.output_dir",
        "run.progress",
        "run.tensorboard",
        "run.log_every",
        "run.eval_every",
        "run.save_every",
        "model.init",  # the resumed weights replace the initial ones
        "model.init_encoder",  # as model.init
        "model.init_encoder_blocks",
        "model.init_encoder_heads",
        "data.eval_source",
        "data.eval_examples",
    }
)


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
        "format": TRAIN_STATE_FORMAT,
    }
    return atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_state(path: str | Path) -> TrainState:
    """Read a training state written by `save_state`; anything else is a clear error."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"training state {path} does not exist")
    payload = load_torch_file(path, "a seggpt training state", "tensors and plain values written by `seggpt train`")
    if not isinstance(payload, dict) or payload.get("format") != TRAIN_STATE_FORMAT:
        raise ValueError(f"{path} is not a seggpt training state (written by `seggpt train`)")
    return TrainState(
        payload["model"],
        payload["optimizer"],
        int(payload["step"]),
        payload["torch_rng"],
        list(payload["cuda_rng"]),
        payload["config"],
    )


def check_run_folder(
    output_dir: str | Path, *, resume: str | None, overwrite: bool, inputs: Iterable[str | Path] = ()
) -> None:
    """Refuse to start a new run over an earlier run's files unless `resume` is set or `overwrite` is True, and
    any run whose files would replace one of its `inputs` (e.g. the `model.init` checkpoint), whatever is set."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise ValueError(f"run.output_dir {output_dir} is a file; expected a folder")
    check_not_inputs([output_dir / name for name in RUN_FILES], inputs)
    found = [name for name in RUN_FILES if (output_dir / name).exists()]
    if found and not resume and not overwrite:
        raise ValueError(
            f"run.output_dir {output_dir} already holds a run ({', '.join(found)}); continue it with "
            "--set run.resume=auto, replace it with --set run.overwrite=true, or choose another run.output_dir"
        )


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and not prefix:
            out.update(_flatten(value, f"{key}."))
        else:
            out[prefix + key] = value
    return out


def resume_differences(
    saved: dict[str, Any], new: dict[str, Any], defaults: dict[str, Any], safe: frozenset[str] = SAFE_RESUME_KEYS
) -> list[str]:
    """The keys (`section.key: saved -> new`) whose change breaks an exact resume; `safe` keys may differ.

    A key the saved config lacks (written before the key existed) counts as its default value.
    """
    old, now, default = _flatten(saved), _flatten(new), _flatten(defaults)
    changed = []
    for key in sorted(set(old) | set(now)):
        before, after = old.get(key, default.get(key)), now.get(key, default.get(key))
        if before != after and key not in safe:
            changed.append(f"{key}: {before!r} -> {after!r}")
    return changed
