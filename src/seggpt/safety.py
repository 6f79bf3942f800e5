"""Checks every command makes before any model work: outputs never overwrite inputs, never collide, can be written.

The rules (see the README's "Safety" section):
- an output file is never an input file (an image, a prompt image or mask, a checkpoint), compared by real
  path, so `--output` equal to the input folder, or a symlinked alias of it, is caught;
- a folder that is replaced as a whole (a video's results) never holds an input;
- two outputs of one run never share a path (e.g. `a_overlay.png` of input `a` and the label map of input
  `a_overlay`);
- an output folder is a folder (or can be created) and is writable; an output file is not a folder;
- a requested device exists.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import torch


class OutputError(ValueError):
    """An output that would overwrite an input, collide with another output, or cannot be written."""


def entry_key(path: str | os.PathLike[str]) -> str:
    """The directory entry `path` names: its folder's real path + its name (a final symlink is not followed).

    Writes replace directory entries (`os.replace`), so two paths write the same file iff their keys are equal.
    """
    path = Path(path)
    return os.path.join(os.path.realpath(path.parent), path.name)


def check_not_inputs(
    outputs: Iterable[str | os.PathLike[str]],
    inputs: Iterable[str | os.PathLike[str]],
    *,
    replaced_folders: Iterable[str | os.PathLike[str]] = (),
) -> None:
    """Refuse any output that is an input, or any input inside a folder the run replaces as a whole.

    Args:
        outputs: files the run will write.
        inputs: files the run reads (followed through symlinks: replacing the link target loses the input).
        replaced_folders: folders whose content the run replaces.

    Raises:
        OutputError: naming the output and the input it would destroy.
    """
    by_key: dict[str, Path] = {}
    for item in inputs:
        by_key[os.path.realpath(item)] = Path(item)
        by_key[entry_key(item)] = Path(item)
    for output in outputs:
        hit = by_key.get(entry_key(output))
        if hit is not None:
            raise OutputError(
                f"output {output} would overwrite the input {hit}; choose another output folder or file name"
            )
    for folder in replaced_folders:
        root = os.path.realpath(folder) + os.sep
        for key, item in by_key.items():
            if key.startswith(root):
                raise OutputError(
                    f"output folder {folder} holds the input {item}, which writing the results would remove; "
                    "choose another output folder"
                )


def check_no_collisions(outputs: Iterable[tuple[str | os.PathLike[str], str]]) -> None:
    """Refuse two outputs with one path. `outputs`: (path, what writes it, e.g. "overlay of a.jpg") pairs."""
    seen: dict[str, str] = {}
    for path, what in outputs:
        key = entry_key(path)
        if key in seen:
            raise OutputError(
                f"output {path} would be written twice ({seen[key]} and {what}); rename one input or "
                "request fewer formats"
            )
        seen[key] = what


def check_output_folder(folder: str | os.PathLike[str], option: str) -> None:
    """`folder` is a writable folder, or can be created (its nearest existing parent is a writable folder)."""
    folder = Path(folder)
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        what = "is a file" if existing == folder else f"lies under the file {existing}"
        raise OutputError(f"{option} {folder} {what}; expected a folder")
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"{option} {folder}: {existing} is not writable; choose a folder you can write to")


def check_output_file(path: str | os.PathLike[str], option: str) -> None:
    """`path` is not a folder and its folder is writable (or can be created)."""
    path = Path(path)
    if path.is_dir():
        raise OutputError(f"{option} {path} is a folder; expected a file name, e.g. {path / 'out.safetensors'}")
    check_output_folder(path.parent, option)


def resolve_device(requested: str | None, option: str = "--device") -> str:
    """The device to run on: `requested` once checked (`check_device`); "auto" or None: the GPU when CUDA has
    one here, else the CPU."""
    check_device(requested, option)
    if requested is None or requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(requested)


def check_device(device: str | torch.device | None, option: str = "--device") -> None:
    """The device exists here: cpu, cuda / cuda:N with that GPU present, mps when available."""
    if device is None or str(device) in ("auto", "cpu"):
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError) as err:
        raise ValueError(f"{option} {device}: not a device name; expected cpu, cuda or cuda:N") from err
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"{option} {device}: no CUDA GPU is available here; use {option} cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise ValueError(f"{option} {device}: only {torch.cuda.device_count()} CUDA GPUs are visible here")
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{option} {device}: MPS is not available here; use {option} cpu")
