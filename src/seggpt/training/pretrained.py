"""Initialise SegGPT's encoder from a pretrained plain ViT (timm key layout), as the paper starts from Painter/MAE.

A plain ViT checkpoint (e.g. DeiT, MAE, timm's `vit_*`) holds `patch_embed.proj.*`, `pos_embed` (1, [1 +] S*S, C),
`blocks.N.{norm1,attn.qkv,attn.proj,norm2,mlp.fc1,mlp.fc2}.*` and `norm.*` (plus `cls_token` and a classifier
`head.*`, which SegGPT has no use for). Those encoder keys are the official SegGPT names, so they load one to one.
What a plain ViT does not have stays at SegGPT's own initialisation: the relative-position tables (zero, so the
attention starts as the pretrained one), the mask / segment / type tokens, and the decoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from seggpt.model.checkpoint import resize_pos_embed
from seggpt.model.files import read_tensors
from seggpt.model.seggpt import SegGPT

BLOCK_PARTS = (
    "norm1.weight",
    "norm1.bias",
    "attn.qkv.weight",
    "attn.qkv.bias",
    "attn.proj.weight",
    "attn.proj.bias",
    "norm2.weight",
    "norm2.bias",
    "mlp.fc1.weight",
    "mlp.fc1.bias",
    "mlp.fc2.weight",
    "mlp.fc2.bias",
)
IGNORED = ("cls_token", "dist_token", "head.", "head_dist.", "fc_norm.")


@dataclass
class EncoderInit:
    """What `load_pretrained_encoder` did: the model keys it set, the source blocks used, the file keys unused."""

    loaded: list[str]
    blocks: list[int]
    unused: list[str] = field(default_factory=list)

    def summary(self, path: str | Path) -> str:
        """One line for the training log."""
        return (
            f"encoder initialised from {path}: {len(self.loaded)} tensors (patch embedding, position table, "
            f"blocks {self.blocks} -> 0..{len(self.blocks) - 1}, final norm); relative positions, tokens and "
            f"decoder keep their own initialisation; unused in the file: {len(self.unused)} tensors"
        )


def load_pretrained_encoder(
    model: SegGPT, path: str | Path, blocks: Sequence[int] | None = None, num_heads: int | None = None
) -> EncoderInit:
    """Copy a plain-ViT encoder's weights into `model` in place.

    Args:
        model: the SegGPT to initialise (its config decides width, patch size and depth).
        path: safetensors or torch file in the timm key layout (a `{"model": state_dict}` wrapper is fine).
        blocks: which of the file's blocks become the model's blocks 0..depth-1 (default: the first `depth`).
        num_heads: the file's attention head count, when known (the weights do not record it); it must equal
            the model's, since a head split changes what each head's slice of qkv means.

    Returns:
        What was loaded. Raises ValueError naming the mismatch when the file does not fit the model.
    """
    cfg = model.config
    state = read_tensors(path)
    problems = []
    if num_heads is not None and num_heads != cfg.num_heads:
        problems.append(f"the encoder has {num_heads} heads, the model {cfg.num_heads}")
    patch = state.get("patch_embed.proj.weight")
    expected_patch = tuple(model.patch_embed.proj.weight.shape)
    if patch is None:
        problems.append("no patch_embed.proj.weight (not a plain ViT in the timm key layout)")
    elif tuple(patch.shape) != expected_patch:
        problems.append(f"patch embedding {tuple(patch.shape)} vs the model's {expected_patch} (width C, 3, p, p)")
    available = sorted({int(k.split(".")[1]) for k in state if k.startswith("blocks.")})
    chosen = list(range(cfg.depth)) if blocks is None else [int(b) for b in blocks]
    if len(chosen) != cfg.depth:
        problems.append(f"{len(chosen)} blocks chosen ({chosen}) for a model of depth {cfg.depth}")
    missing = [b for b in chosen if b not in available]
    if missing:
        problems.append(f"blocks {missing} are not in the file (it has blocks {available})")
    if problems:  # the file does not fit: the key-by-key checks below would only repeat it
        raise ValueError(f"cannot initialise the encoder from {path}: " + "; ".join(problems))
    # model key -> file key; everything is checked before the first copy, so a refused file changes nothing
    sources = {k: k for k in ("patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight", "norm.bias")}
    sources.update(
        {
            f"blocks.{ours}.{part}": f"blocks.{theirs}.{part}"
            for ours, theirs in enumerate(chosen)
            for part in BLOCK_PARTS
        }
    )
    sources = {ours: theirs for ours, theirs in sources.items() if theirs in state}
    unused = sorted(set(state) - set(sources.values()) - {"pos_embed"})
    strange = [k for k in unused if not k.startswith(IGNORED) and not k.startswith("blocks.")]
    if strange:
        problems.append(
            f"keys outside the timm ViT layout {strange[:5]}; expected patch_embed, pos_embed, blocks.N.*, norm "
            "(cls_token and head are ignored)"
        )
    target = model.state_dict()
    updates = {ours: state[theirs] for ours, theirs in sources.items()}
    if "pos_embed" in state:
        table, shape = state["pos_embed"], tuple(model.pos_embed.shape)
        if table.ndim != 3 or table.shape[-1] != shape[-1]:
            problems.append(f"position table {tuple(table.shape)} vs the model's {shape}")
        else:  # the model keeps a pretrain-grid table and resizes it to the canvas grid at run time
            updates["pos_embed"] = table if tuple(table.shape) == shape else resize_pos_embed(table.float(), shape)
    problems += [
        f"wrong shape of {k}: file {tuple(v.shape)} vs model {tuple(target[k].shape)}"
        for k, v in updates.items()
        if tuple(v.shape) != tuple(target[k].shape)
    ]
    if problems:
        raise ValueError(f"cannot initialise the encoder from {path}: " + "; ".join(problems))
    with torch.no_grad():
        for key, value in updates.items():
            target[key].copy_(value.to(target[key].dtype))
    return EncoderInit(sorted(updates), chosen, unused)
