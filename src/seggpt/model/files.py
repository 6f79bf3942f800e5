"""Reading tensors from untrusted files: the kind told by content, never unpickling code.

safetensors files are read as they are; torch files only through `torch.load(weights_only=True)`, which
refuses any pickled object other than tensors and plain containers. Every failure is one line naming the file.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Literal

import torch
from safetensors import safe_open
from torch import Tensor

TRAIN_STATE_FORMAT = "seggpt-train-state-1"  # the "format" of `seggpt train`'s last.pt
TRAIN_PRESET_KEY = "seggpt_train_preset"  # in the metadata `read_tensor_file` returns for such a state


def read_tensor_file(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """All tensors of a safetensors or torch file, and its metadata: the safetensors metadata; for a torch
    file {} or, for a training state (`TRAIN_STATE_FORMAT`), its model preset under `TRAIN_PRESET_KEY`."""
    kind = _sniff(path)
    if kind == "safetensors":
        try:
            with safe_open(str(path), framework="pt") as f:
                metadata = f.metadata() or {}
                return {k: f.get_tensor(k) for k in f.keys()}, metadata  # noqa: SIM118 (safe_open is not a dict)
        except Exception as err:
            raise ValueError(
                f"cannot read {path} as safetensors (truncated or corrupted?): {_first_line(err)}"
            ) from err
    obj = load_torch_file(
        path, "a torch checkpoint", "a plain state dict, optionally under 'model'", mmap=kind == "torch-zip"
    )
    metadata = {}
    if isinstance(obj, dict) and obj.get("format") == TRAIN_STATE_FORMAT:
        config = obj.get("config")
        model_section = config.get("model") if isinstance(config, dict) else None
        if isinstance(model_section, dict) and isinstance(model_section.get("preset"), str):
            metadata[TRAIN_PRESET_KEY] = model_section["preset"]
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        obj = obj["model"]  # the official layout: {"model": state_dict, ...}
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise ValueError(
            f"{path} does not hold a state dict of tensors (got {type(obj).__name__}); expected "
            "a dict of tensors, optionally under 'model'"
        )
    return dict(obj), metadata


def read_tensors(path: str | Path) -> dict[str, Tensor]:
    """Every tensor of a safetensors or torch file, names unchanged (for foreign weights; never unpickles code)."""
    return read_tensor_file(Path(path))[0]


def load_torch_file(
    path: str | Path, what: str, expected: str, *, map_location: str | torch.device = "cpu", mmap: bool = False
) -> object:
    """`torch.load` of an untrusted file: tensors and plain containers only (`weights_only=True`), never code.

    Args:
        path: the file.
        what: what it should be, in messages ("a torch checkpoint", "a seggpt training state").
        expected: what it should hold, in the message refusing other pickled objects.

    Raises:
        ValueError: one line naming `path`: a pickled object other than those (refused, never run), or a
            truncated or foreign file.
    """
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL (\S+)", str(err))
        if found is None:  # a broken pickle stream rather than a forbidden object
            raise ValueError(f"cannot read {path} as {what} (truncated or corrupted?): {_first_line(err)}") from err
        raise ValueError(
            f"{path} holds pickled Python objects other than tensors ({found.group(1)}); refusing to unpickle them "
            f"(expected {expected})"
        ) from err
    except Exception as err:
        raise ValueError(f"cannot read {path} as {what} (truncated or corrupted?): {_first_line(err)}") from err


def _first_line(err: Exception) -> str:
    return str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__


def _sniff(path: Path) -> Literal["safetensors", "torch-zip", "torch-pickle"]:
    """Tell the file kind from its first bytes; anything else is a clear error."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04"):
        return "torch-zip"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "torch-pickle"
    if len(head) >= 9 and head[8:9] == b"{":
        header_len = int.from_bytes(head[:8], "little")
        if 8 + header_len > size:
            raise ValueError(
                f"{path} is a truncated safetensors file: its header needs {8 + header_len} bytes, the file has {size}"
            )
        return "safetensors"
    raise ValueError(
        f"{path} is not a checkpoint: it looks like {_describe(head)}; expected a torch .pth/.bin "
        "file or a .safetensors file"
    )


def _describe(head: bytes) -> str:
    if not head:
        return "an empty file"
    for magic, kind in ((b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image")):
        if head.startswith(magic):
            return kind
    if head.lstrip()[:1] in (b"{", b"["):
        return "JSON"
    return "text" if head.isascii() else "unknown binary data"
