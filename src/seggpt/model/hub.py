"""Where checkpoints come from: named checkpoints in a cache folder, and the Hugging Face transformers layout.

A name such as `seggpt-vit-large` resolves to a file in the cache folder (`~/.cache/seggpt`, or the folder
in the environment variable `SEGGPT_CACHE`). When the file is missing it is downloaded with huggingface_hub
if that is installed and the machine is online (`HF_HUB_OFFLINE=1` forbids it); otherwise the error says
which file to put where.
"""

from __future__ import annotations

import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import Tensor

from seggpt.model.config import SegGPTConfig


@dataclass(frozen=True)
class HubFile:
    """A released checkpoint: a file in a Hugging Face Hub repository, and the preset it was trained with."""

    repo_id: str
    filename: str
    preset: str

    @property
    def url(self) -> str:
        return f"https://huggingface.co/{self.repo_id}/blob/main/{self.filename}"


CHECKPOINTS = {
    "seggpt-vit-large": HubFile("BAAI/SegGPT", "seggpt_vit_large.pth", "seggpt-vit-large"),
}

# The one rename table between the transformers layout (left) and the official names (right), which our
# parameters use. `{n}` stands for a block index. Applied in order, first matching prefix wins.
HF_TO_OFFICIAL: tuple[tuple[str, str], ...] = (
    ("model.embeddings.mask_token", "mask_token"),
    ("model.embeddings.segment_token_input", "segment_token_x"),
    ("model.embeddings.segment_token_prompt", "segment_token_y"),
    ("model.embeddings.type_token_semantic", "type_token_cls"),
    ("model.embeddings.type_token_instance", "type_token_ins"),
    ("model.embeddings.position_embeddings", "pos_embed"),
    ("model.embeddings.patch_embeddings.projection.", "patch_embed.proj."),
    ("model.encoder.layers.{n}.layernorm_before.", "blocks.{n}.norm1."),
    ("model.encoder.layers.{n}.layernorm_after.", "blocks.{n}.norm2."),
    ("model.encoder.layers.{n}.attention.", "blocks.{n}.attn."),
    ("model.encoder.layers.{n}.mlp.lin1.", "blocks.{n}.mlp.fc1."),
    ("model.encoder.layers.{n}.mlp.lin2.", "blocks.{n}.mlp.fc2."),
    ("model.encoder.layernorm.", "norm."),
    ("decoder.decoder_embed.", "decoder_embed."),
    ("decoder.decoder_pred.conv.", "decoder_pred.0."),
    ("decoder.decoder_pred.layernorm.", "decoder_pred.1."),
    ("decoder.decoder_pred.head.", "decoder_pred.3."),
)


DEFAULT_MODEL = "seggpt-default"
# The embedded default: a small SegGPT trained by `seggpt train` (recipe: scripts/train_default_model.sh),
# shipped inside the package so that everything runs out of the box.
DEFAULT_MODEL_FILE = Path(__file__).resolve().parents[1] / "weights" / "seggpt_default.safetensors"


def default_model_path() -> Path:
    """The packaged default model's file; an error if this install does not carry it."""
    if not DEFAULT_MODEL_FILE.is_file():
        raise FileNotFoundError(
            f"the embedded default model is missing from this install ({DEFAULT_MODEL_FILE}); reinstall seggpt, "
            "or pass --model with a checkpoint path or 'seggpt-vit-large'"
        )
    return DEFAULT_MODEL_FILE


def cache_dir() -> Path:
    """The checkpoint cache folder: `$SEGGPT_CACHE`, else `~/.cache/seggpt`."""
    return Path(os.environ.get("SEGGPT_CACHE") or "~/.cache/seggpt").expanduser()


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def resolve_checkpoint(name: str) -> Path:
    """The local file of a named checkpoint (see `CHECKPOINTS`), downloading it when allowed.

    Raises:
        FileNotFoundError: the file is not cached and cannot be downloaded; the message says which file to
            put where and where to get it.
    """
    hub_file = CHECKPOINTS[name]
    folder = cache_dir()
    path = folder / hub_file.filename
    if path.is_file():
        return path
    reason = _download(hub_file, folder)
    if path.is_file():
        return path
    raise FileNotFoundError(
        f"checkpoint {name!r} is not in the cache ({reason}): put {hub_file.filename} at {path} "
        f"(get it from {hub_file.url}), or set SEGGPT_CACHE to the folder that holds it"
    )


def _download(hub_file: HubFile, folder: Path) -> str:
    """Try to fetch `hub_file` into `folder`; return why it is not there when it fails."""
    if _offline():
        return "HF_HUB_OFFLINE is set, so nothing is downloaded"
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        return "huggingface_hub is not installed, so it cannot be downloaded"
    unreachable = _unreachable()
    if unreachable:
        return unreachable
    try:
        folder.mkdir(parents=True, exist_ok=True)
        hf_hub_download(hub_file.repo_id, hub_file.filename, local_dir=folder)
    except Exception as err:  # any network or hub failure becomes the instructive error
        return f"download from {hub_file.repo_id} failed: {type(err).__name__}: {str(err).splitlines()[0][:200]}"
    return "download finished but the file is missing"


def _unreachable() -> str | None:
    """Why the hub's host cannot be reached, found at once: without it an offline machine waits out
    huggingface_hub's retries (about 20 s of warnings) before failing. Behind a proxy the host's name may only
    resolve there, so nothing is checked then."""
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    from urllib.parse import urlsplit

    from huggingface_hub import constants

    host = urlsplit(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.getaddrinfo(host, 443)
    except OSError as err:
        return f"{host} cannot be reached, the machine looks offline ({err})"
    return None


def _compile(pairs: tuple[tuple[str, str], ...]) -> list[tuple[re.Pattern[str], str]]:
    compiled = []
    for src, dst in pairs:
        pattern = re.escape(src).replace(re.escape("{n}"), r"(?P<n>\d+)")
        compiled.append((re.compile(pattern), dst))
    return compiled


_HF_RULES = _compile(HF_TO_OFFICIAL)
_OFFICIAL_RULES = _compile(tuple((dst, src) for src, dst in HF_TO_OFFICIAL))


def _rename(key: str, rules: list[tuple[re.Pattern[str], str]]) -> str | None:
    for pattern, dst in rules:
        match = pattern.match(key)
        if match:
            prefix = dst.replace("{n}", match.group("n")) if "n" in pattern.groupindex else dst
            return prefix + key[match.end() :]
    return None


def hf_to_official(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename a transformers `SegGptForImageSegmentation` state dict to the official names.

    A bare `SegGptModel` state dict (no `model.` prefix) is accepted; keys no rule matches are kept as
    they are, so the strict check later lists them as unexpected.
    """
    if not any(k.startswith("model.") for k in state_dict):
        state_dict = {
            ("model." + k if k.startswith(("embeddings.", "encoder.")) else k): v for k, v in state_dict.items()
        }
    return {(_rename(k, _HF_RULES) or k): v for k, v in state_dict.items()}


def official_to_hf(state_dict: dict[str, Tensor]) -> dict[str, Tensor]:
    """Rename an official (or our) state dict to the transformers `SegGptForImageSegmentation` names."""
    return {(_rename(k, _OFFICIAL_RULES) or k): v for k, v in state_dict.items()}


def is_hf_layout(keys: list[str]) -> bool:
    """Whether state-dict keys are in the transformers layout."""
    return any(k.startswith(("model.embeddings.", "model.encoder.", "embeddings.patch_embeddings.")) for k in keys)


def config_from_hf(hf: dict[str, Any], source: str) -> SegGPTConfig:
    """Our config from a transformers SegGpt `config.json` dict (`source` names the file in errors)."""
    if hf.get("model_type", "seggpt") != "seggpt":
        raise ValueError(f"{source} describes a {hf.get('model_type')!r} model, expected model_type 'seggpt'")
    if hf.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"{source}: hidden_act {hf['hidden_act']!r} is not supported, expected 'gelu'")
    hidden = int(hf.get("hidden_size", 1024))
    mlp_dim = int(hf.get("mlp_dim") or 4 * hidden)
    if int(hidden * (mlp_dim / hidden)) != mlp_dim:
        raise ValueError(f"{source}: mlp_dim {mlp_dim} is not representable as a ratio of hidden_size {hidden}")
    size = hf.get("image_size", (896, 448))
    image_size = (int(size), int(size)) if isinstance(size, int) else (int(size[0]), int(size[1]))
    patch = hf.get("patch_size", 16)
    pretrain = hf.get("pretrain_image_size", 224)
    try:
        return SegGPTConfig(
            image_size=image_size,
            patch_size=int(patch if isinstance(patch, int) else patch[0]),
            embed_dim=hidden,
            depth=int(hf.get("num_hidden_layers", 24)),
            num_heads=int(hf.get("num_attention_heads", 16)),
            mlp_ratio=mlp_dim / hidden,
            decoder_embed_dim=int(hf.get("decoder_hidden_size", 64)),
            layer_norm_eps=float(hf.get("layer_norm_eps", 1e-6)),
            merge_layer=int(hf.get("merge_index", 2)),
            feature_layers=tuple(int(i) for i in hf.get("intermediate_hidden_state_indices", (5, 11, 17, 23))),
            use_rel_pos=bool(hf.get("use_relative_position_embeddings", True)),
            pretrain_img_size=int(pretrain if isinstance(pretrain, int) else pretrain[0]),
            pretrain_use_cls_token=True,  # transformers always keeps the cls slot
            drop_path_rate=float(hf.get("drop_path_rate", 0.1)),
            qkv_bias=bool(hf.get("qkv_bias", True)),
        )
    except (TypeError, ValueError) as err:
        raise ValueError(f"{source} is not a usable SegGpt config: {err}") from err


def config_to_hf(config: SegGPTConfig) -> dict[str, Any]:
    """The transformers SegGptConfig keyword arguments of our config (the inverse of `config_from_hf`)."""
    return {
        "hidden_size": config.embed_dim,
        "num_hidden_layers": config.depth,
        "num_attention_heads": config.num_heads,
        "mlp_dim": int(config.embed_dim * config.mlp_ratio),
        "image_size": list(config.image_size),
        "patch_size": config.patch_size,
        "decoder_hidden_size": config.decoder_embed_dim,
        "merge_index": config.merge_layer,
        "intermediate_hidden_state_indices": list(config.feature_layers),
        "pretrain_image_size": config.pretrain_img_size,
        "layer_norm_eps": config.layer_norm_eps,
        "use_relative_position_embeddings": config.use_rel_pos,
        "qkv_bias": config.qkv_bias,
        "drop_path_rate": 0.0,
    }
