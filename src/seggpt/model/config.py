"""SegGPT architecture config: a frozen dataclass and its named presets.

Every number the official code hard-codes (the merge block, the four decoder taps, the canvas size)
is a named field here. Only `build_seggpt` reads the config; layers take plain arguments.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class SegGPTConfig:
    """Architecture of a SegGPT model.

    Attributes:
        image_size: (H, W) of one canvas: prompt on top, query at the bottom (896x448 released).
        patch_size: side of one patch in pixels.
        embed_dim: token width of the ViT encoder.
        depth: number of transformer blocks.
        num_heads: attention heads per block.
        mlp_ratio: MLP hidden width / embed_dim.
        decoder_embed_dim: channels of the per-pixel decoder features.
        layer_norm_eps: epsilon of every LayerNorm.
        merge_layer: index of the block after which the image and target streams are averaged.
        feature_layers: indexes of the blocks whose outputs feed the decoder.
        use_rel_pos: decomposed relative position in every block's attention.
        pretrain_img_size: side of the square grid the absolute position table was trained at.
        pretrain_use_cls_token: the position table has a leading cls slot (dropped on use).
        drop_path_rate: stochastic depth at the last block (linear from 0), training only.
        qkv_bias: bias in the qkv projection.
    """

    image_size: tuple[int, int] = (896, 448)
    patch_size: int = 16
    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    mlp_ratio: float = 4.0
    decoder_embed_dim: int = 64
    layer_norm_eps: float = 1e-6
    merge_layer: int = 2
    feature_layers: tuple[int, ...] = (5, 11, 17, 23)
    use_rel_pos: bool = True
    pretrain_img_size: int = 224
    pretrain_use_cls_token: bool = True
    drop_path_rate: float = 0.1
    qkv_bias: bool = True

    def __post_init__(self) -> None:
        H, W = self.image_size
        p = self.patch_size
        if H % p or W % p:
            raise ValueError(f"image_size {self.image_size} must be a multiple of patch_size {p}")
        if (H // p) % 2:
            raise ValueError(f"image_size height {H} must hold an even number of patch rows (prompt + query)")
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim {self.embed_dim} is not divisible by num_heads {self.num_heads}")
        if not 0 <= self.merge_layer < self.depth:
            raise ValueError(f"merge_layer {self.merge_layer} must lie in [0, depth={self.depth})")
        if not self.feature_layers or any(not 0 <= i < self.depth for i in self.feature_layers):
            raise ValueError(f"feature_layers {self.feature_layers} must be block indexes below depth={self.depth}")
        if min(self.feature_layers) < self.merge_layer:
            raise ValueError(f"feature_layers {self.feature_layers} must not precede merge_layer {self.merge_layer}")
        if max(self.feature_layers) != self.depth - 1:
            raise ValueError("the last feature layer must be the last block")

    @property
    def grid_size(self) -> tuple[int, int]:
        """(h, w) patch grid of one canvas."""
        return self.image_size[0] // self.patch_size, self.image_size[1] // self.patch_size

    @property
    def query_size(self) -> tuple[int, int]:
        """(H, W) in pixels of one image half of the canvas (448x448 released)."""
        return self.image_size[0] // 2, self.image_size[1]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples become lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SegGPTConfig:
        """Build from a dict with this class's keys; unknown keys other than the fixture's extras are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        ignored = {"num_prompts", "seed"}  # written into the official fixture's config.json; not architecture
        unknown = set(data) - known - ignored
        if unknown:
            raise ValueError(f"unknown SegGPT config keys {sorted(unknown)}; expected some of {sorted(known)}")
        kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known}
        return cls(**kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, path: str | Path) -> SegGPTConfig:
        """Read a config from a JSON file with the keys of the fixture's `config.json`."""
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as err:  # ValueError: not JSON, or not UTF-8 text
            raise ValueError(f"cannot read SegGPT config JSON {path}: {err}") from err
        if not isinstance(data, dict):
            raise ValueError(f"SegGPT config JSON {path} must hold an object, got {type(data).__name__}")
        return cls.from_dict(data)


def seggpt_vit_large() -> SegGPTConfig:
    """The released model (`seggpt_vit_large.pth`, 370.7M parameters): ViT-L, 896x448 canvas."""
    return SegGPTConfig()


def seggpt_vit_small() -> SegGPTConfig:
    """A small ViT (384 wide, 12 blocks) on a 448x224 canvas, for training on one machine."""
    return SegGPTConfig(
        image_size=(448, 224),
        embed_dim=384,
        depth=12,
        num_heads=6,
        decoder_embed_dim=32,
        merge_layer=2,
        feature_layers=(2, 5, 8, 11),
        drop_path_rate=0.05,
    )


def seggpt_vit_tiny() -> SegGPTConfig:
    """A tiny ViT (192 wide, 6 blocks) on a 256x128 canvas: the embedded default's size class."""
    return SegGPTConfig(
        image_size=(256, 128),
        embed_dim=192,
        depth=6,
        num_heads=3,
        decoder_embed_dim=16,
        merge_layer=1,
        feature_layers=(2, 3, 4, 5),
        drop_path_rate=0.0,
    )


def seggpt_vit_tiny_224() -> SegGPTConfig:
    """DeiT-Tiny's shape (192 wide, 12 blocks, 3 heads) on a 448x224 canvas: the embedded default model.

    It takes a pretrained DeiT-Tiny encoder one to one (`model.init_encoder` in training): same width, depth, heads
    and 224-pixel position table.
    """
    return SegGPTConfig(
        image_size=(448, 224),
        embed_dim=192,
        depth=12,
        num_heads=3,
        decoder_embed_dim=16,
        merge_layer=2,
        feature_layers=(2, 5, 8, 11),
        drop_path_rate=0.0,
    )


def seggpt_test() -> SegGPTConfig:
    """A minute model for unit tests: 64 wide, 4 blocks, 64x32 canvas."""
    return SegGPTConfig(
        image_size=(64, 32),
        embed_dim=64,
        depth=4,
        num_heads=4,
        decoder_embed_dim=8,
        merge_layer=1,
        feature_layers=(1, 2, 3),
        drop_path_rate=0.0,
    )


PRESETS = {
    "seggpt-vit-large": seggpt_vit_large,
    "seggpt-vit-small": seggpt_vit_small,
    "seggpt-vit-tiny": seggpt_vit_tiny,
    "seggpt-vit-tiny-224": seggpt_vit_tiny_224,
    "seggpt-test": seggpt_test,
}


def get_preset(name: str) -> SegGPTConfig:
    """The config of a named preset; an unknown name is an error listing the known ones."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; known presets: {', '.join(PRESETS)}")
    return PRESETS[name]()
