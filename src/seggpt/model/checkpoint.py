"""Loading and saving SegGPT checkpoints: the official `.pth`, the transformers layout, and our own file.

Formats are told apart by content, not by extension. Loading never unpickles code (`weights_only=True`
or safetensors) and is strict: every missing or unexpected key and every wrong shape is reported at once.
Our own format is a safetensors file whose metadata carries the config, so it loads with no other input.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from safetensors.torch import save_file
from torch import Tensor

from seggpt.atomic import atomic_write
from seggpt.model.config import PRESETS, SegGPTConfig, get_preset
from seggpt.model.files import TRAIN_PRESET_KEY, read_tensor_file
from seggpt.model.hub import (
    CHECKPOINTS,
    DEFAULT_MODEL,
    DEFAULT_MODEL_FILE,
    config_from_hf,
    default_model_path,
    hf_to_official,
    is_hf_layout,
    resolve_checkpoint,
)
from seggpt.model.layers import resize_abs_pos
from seggpt.model.rel_pos import resize_rel_pos
from seggpt.model.seggpt import SegGPT, build_seggpt

FORMAT_KEY, FORMAT_NAME, CONFIG_KEY = "format", "seggpt", "seggpt_config"  # our safetensors metadata
HF_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
Layout = Literal["official", "hf", "seggpt", "training state"]


@dataclass
class Checkpoint:
    """A state dict read from disk, with official key names, and what the file said about its architecture."""

    state_dict: dict[str, Tensor]
    layout: Layout
    config: SegGPTConfig | None  # from our metadata or a transformers config.json; None for official files


def save_model(model: SegGPT, path: str | Path) -> Path:
    """Write `model` as our safetensors file (weights + config JSON in the metadata), atomically.

    Returns:
        The path written. Loading it back needs nothing else: `load_model(path)`.
    """
    path = Path(path)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {FORMAT_KEY: FORMAT_NAME, CONFIG_KEY: json.dumps(model.config.to_dict())}
    return atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=metadata))


def load_model(
    path_or_name: str | Path,
    *,
    config: SegGPTConfig | str | Path | None = None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype | None = None,
    image_size: tuple[int, int] | None = None,
) -> SegGPT:
    """Load a SegGPT checkpoint into a model in eval mode.

    Args:
        path_or_name: a checkpoint file, a transformers folder (`model.safetensors` or `pytorch_model.bin`,
            with `config.json`), or a name from `CHECKPOINTS` (e.g. "seggpt-vit-large"), resolved from the
            cache folder (see `seggpt.model.hub`).
        config: the architecture, as a `SegGPTConfig`, a JSON file with the keys of the fixture's
            `config.json`, or a preset name. Default: what the file says (our format, transformers
            `config.json`), else the released ViT-L.
        device: where the parameters go.
        dtype: parameter dtype; default float32.
        image_size: (H, W) canvas to run at, if not the checkpoint's; position tables are resized.

    Raises:
        ValueError: unreadable, corrupted or wrong-kind file, or weights that do not fit the architecture.
        FileNotFoundError: no such file, or a named checkpoint that is not cached and cannot be downloaded.
    """
    path, default_config = _locate(path_or_name)
    checkpoint = read_checkpoint(path)
    arch = _as_config(config) if config is not None else checkpoint.config or default_config
    if image_size is not None:
        arch = dataclasses.replace(arch, image_size=(int(image_size[0]), int(image_size[1])))
    model = build_seggpt(arch, device="meta", init=False)
    state_dict = checkpoint_filter_fn(checkpoint.state_dict, model)
    check_state_dict(state_dict, model, f"{path} ({checkpoint.layout} layout)", hint=config is None)
    check_values(state_dict, str(path))
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model.to(device=device, dtype=dtype or torch.float32).eval()


def _locate(path_or_name: str | Path) -> tuple[Path, SegGPTConfig]:
    """The file to read and the architecture to assume when the file does not say."""
    path = Path(path_or_name).expanduser()
    if path.exists():
        return path, get_preset("seggpt-vit-large")
    if str(path_or_name) == DEFAULT_MODEL:
        return default_model_path(), get_preset("seggpt-vit-tiny-224")
    if str(path_or_name) in CHECKPOINTS:
        name = str(path_or_name)
        return resolve_checkpoint(name), get_preset(CHECKPOINTS[name].preset)
    raise FileNotFoundError(
        f"no checkpoint file or folder {path_or_name}; give a path or one of the names "
        f"{', '.join([DEFAULT_MODEL, *CHECKPOINTS])}"
    )


def _as_config(config: SegGPTConfig | str | Path) -> SegGPTConfig:
    if isinstance(config, SegGPTConfig):
        return config
    if str(config) in PRESETS and not Path(config).exists():
        return get_preset(str(config))
    return SegGPTConfig.from_json(config)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """Read any supported checkpoint file or transformers folder into a state dict with official key names."""
    path = Path(path)
    hf_config = None
    if path.is_dir():
        found = [path / name for name in HF_WEIGHT_FILES if (path / name).is_file()]
        if not found:
            raise ValueError(f"folder {path} holds no {' or '.join(HF_WEIGHT_FILES)} (a transformers checkpoint)")
        path = found[0]
    state_dict, metadata = read_tensor_file(path)
    if metadata.get(FORMAT_KEY) == FORMAT_NAME:
        try:
            config = SegGPTConfig.from_dict(json.loads(metadata[CONFIG_KEY]))
        except (KeyError, TypeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: seggpt metadata has no valid {CONFIG_KEY!r}: {err}") from err
        return Checkpoint(state_dict, "seggpt", config)
    if is_hf_layout(list(state_dict)):
        config_json = path.parent / "config.json"
        if config_json.is_file():
            try:
                hf_config = config_from_hf(json.loads(config_json.read_text()), str(config_json))
            except json.JSONDecodeError as err:
                raise ValueError(f"cannot read transformers config {config_json}: {err}") from err
        return Checkpoint(hf_to_official(state_dict), "hf", hf_config)
    if "patch_embed.proj.weight" in state_dict or any(k.startswith("blocks.") for k in state_dict):
        if "mask_token" not in state_dict and "decoder_embed.weight" not in state_dict:
            raise ValueError(
                f"{path} holds a plain ViT encoder (no SegGPT tokens or decoder), not a SegGPT checkpoint; such "
                "weights start a training run (model.init_encoder in a `seggpt train` config)"
            )
        if TRAIN_PRESET_KEY in metadata:  # `seggpt train`'s last.pt: its config names the architecture
            preset = metadata[TRAIN_PRESET_KEY]
            return Checkpoint(state_dict, "training state", get_preset(preset) if preset in PRESETS else None)
        return Checkpoint(state_dict, "official", None)
    raise ValueError(
        f"{path} holds tensors {sorted(state_dict)[:5]}..., which are neither official SegGPT nor transformers "
        "SegGpt names"
    )


def checkpoint_files(model: str | Path) -> list[Path]:
    """The files `load_model(model)` reads that exist here: the file itself, a transformers folder's weights and
    config.json, the packaged default model for its name. What every command's outputs must never replace."""
    path = Path(model).expanduser()
    if path.is_dir():
        return [path / name for name in (*HF_WEIGHT_FILES, "config.json") if (path / name).is_file()]
    if path.is_file():
        return [path]
    return [DEFAULT_MODEL_FILE] if str(model) == DEFAULT_MODEL and DEFAULT_MODEL_FILE.is_file() else []


def config_files(config: SegGPTConfig | str | Path | None) -> list[Path]:
    """The architecture JSON `load_model(config=config)` reads, when `config` names a file here (not a preset
    name or a `SegGPTConfig`): with `checkpoint_files`, what outputs must never replace."""
    return [Path(config)] if isinstance(config, str | Path) and Path(config).is_file() else []


def checkpoint_filter_fn(state_dict: dict[str, Tensor], model: SegGPT) -> dict[str, Tensor]:
    """Resize the position tables of `state_dict` to `model`'s shapes; other tensors pass through.

    `pos_embed` (1, [1 +] S*S, C) is resized bicubic to the model's pretrain grid (the cls slot is kept);
    `rel_pos_h/w` (L, hd) linearly to the model's (2h-1, hd) / (2w-1, hd), as the official code does at
    run time when the canvas differs. Pure: `state_dict` is not changed; `model` may be on the meta device.
    """
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    out = dict(state_dict)
    for key, value in state_dict.items():
        shape = expected.get(key)
        if shape is None or tuple(value.shape) == shape or value.ndim != len(shape) or value.shape[-1] != shape[-1]:
            continue
        if key == "pos_embed":
            out[key] = resize_pos_embed(value, shape)
        elif key.endswith(("attn.rel_pos_h", "attn.rel_pos_w")):
            out[key] = resize_rel_pos(value.float(), shape[0]).to(value.dtype)
    return out


def resize_pos_embed(pos_embed: Tensor, shape: tuple[int, ...]) -> Tensor:
    """A (1, [1 +] S*S, C) table resized bicubic to a (1, [1 +] G*G, C) `shape`; a cls slot is kept (zeros if new)."""
    has_cls = round((pos_embed.shape[1] - 1) ** 0.5) ** 2 == pos_embed.shape[1] - 1
    model_cls = round((shape[1] - 1) ** 0.5) ** 2 == shape[1] - 1
    side = round((shape[1] - int(model_cls)) ** 0.5)
    grid = resize_abs_pos(pos_embed.float(), has_cls, (side, side)).reshape(1, side * side, -1)
    if model_cls:
        cls = pos_embed[:, :1].float() if has_cls else grid.new_zeros(1, 1, grid.shape[-1])
        grid = torch.cat([cls, grid], dim=1)
    return grid.to(pos_embed.dtype)


def check_state_dict(state_dict: dict[str, Tensor], model: SegGPT, source: str, hint: bool = False) -> None:
    """Strict check: one ValueError listing missing and unexpected keys and wrong shapes (first 10 of each)."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k}: file {tuple(v.shape)} vs model {expected[k]}"
        for k, v in state_dict.items()
        if k in expected and tuple(v.shape) != expected[k]
    ]
    if not (missing or unexpected or wrong):
        return
    lines = [f"checkpoint {source} does not fit the architecture {model.config}:"]
    for title, items in (("missing keys", missing), ("unexpected keys", unexpected), ("wrong shapes", wrong)):
        if items:
            more = f" ... and {len(items) - 10} more" if len(items) > 10 else ""
            lines.append(f"  {len(items)} {title}: {', '.join(items[:10])}{more}")
    if hint:
        lines.append(
            f"  the file looks like {_shape_summary(state_dict)}; pass its architecture with config= "
            "(or --config) as a JSON file with the keys of SegGPTConfig"
        )
    raise ValueError("\n".join(lines))


def check_values(state_dict: dict[str, Tensor], source: str) -> None:
    """Every weight is a finite floating-point tensor: integer tensors or NaN/inf (a diverged run) are errors."""
    not_float = [f"{k} ({v.dtype})" for k, v in state_dict.items() if not v.is_floating_point()]
    if not_float:
        raise ValueError(
            f"checkpoint {source}: {len(not_float)} tensors are not floating point ({', '.join(not_float[:5])}); "
            "expected float weights (a corrupted or foreign file?)"
        )
    bad = [k for k, v in state_dict.items() if not bool(torch.isfinite(v).all())]
    if bad:
        raise ValueError(
            f"checkpoint {source}: {len(bad)} tensors hold NaN or infinite values ({', '.join(bad[:5])}); "
            "the run that wrote it diverged: use an earlier checkpoint"
        )


def _shape_summary(state_dict: dict[str, Tensor]) -> str:
    """What the tensor shapes say about the architecture, for error messages."""
    facts: dict[str, object] = {"depth": len({k.split(".")[1] for k in state_dict if k.startswith("blocks.")})}
    if "patch_embed.proj.weight" in state_dict:
        embed_dim, _, patch, _ = state_dict["patch_embed.proj.weight"].shape
        facts.update(embed_dim=embed_dim, patch_size=patch)
        rel_h, rel_w = state_dict.get("blocks.0.attn.rel_pos_h"), state_dict.get("blocks.0.attn.rel_pos_w")
        if rel_h is not None and rel_w is not None:
            facts["num_heads"] = embed_dim // rel_h.shape[1]
            facts["image_size"] = [(rel_h.shape[0] + 1) // 2 * patch, (rel_w.shape[0] + 1) // 2 * patch]
        if "decoder_embed.weight" in state_dict:
            facts["num_feature_layers"] = state_dict["decoder_embed.weight"].shape[1] // embed_dim
            facts["decoder_embed_dim"] = state_dict["decoder_embed.weight"].shape[0] // patch**2
    return ", ".join(f"{k}={v}" for k, v in facts.items())
