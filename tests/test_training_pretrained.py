"""Encoder initialisation from a pretrained plain ViT (timm key layout), and stopping a run part-way."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from conftest import SHARED
from seggpt.model import build_seggpt, get_preset
from seggpt.model.layers import resize_abs_pos
from seggpt.training.config import config_from_dict
from seggpt.training.distributed import DistEnv
from seggpt.training.pretrained import BLOCK_PARTS, load_pretrained_encoder
from seggpt.training.trainer import Trainer, build_model
from test_training_trainer import tiny_config, weights

DEIT = SHARED / "pretrained" / "deit_tiny_patch16_224.safetensors"


def plain_vit(path: Path, width: int = 64, depth: int = 6, grid: int = 7, seed: int = 0) -> dict[str, torch.Tensor]:
    """Write a random plain ViT in the timm key layout (cls token, a grid x grid + cls position table, a head)."""
    gen = torch.Generator().manual_seed(seed)
    shapes = {
        "norm1.weight": (width,),
        "norm1.bias": (width,),
        "attn.qkv.weight": (3 * width, width),
        "attn.qkv.bias": (3 * width,),
        "attn.proj.weight": (width, width),
        "attn.proj.bias": (width,),
        "norm2.weight": (width,),
        "norm2.bias": (width,),
        "mlp.fc1.weight": (4 * width, width),
        "mlp.fc1.bias": (4 * width,),
        "mlp.fc2.weight": (width, 4 * width),
        "mlp.fc2.bias": (width,),
    }
    assert set(shapes) == set(BLOCK_PARTS)
    tensors = {f"blocks.{b}.{k}": torch.randn(s, generator=gen) for b in range(depth) for k, s in shapes.items()}
    tensors.update(
        {
            "cls_token": torch.randn(1, 1, width, generator=gen),
            "pos_embed": torch.randn(1, 1 + grid * grid, width, generator=gen),
            "patch_embed.proj.weight": torch.randn(width, 3, 16, 16, generator=gen),
            "patch_embed.proj.bias": torch.randn(width, generator=gen),
            "norm.weight": torch.randn(width, generator=gen),
            "norm.bias": torch.randn(width, generator=gen),
            "head.weight": torch.randn(10, width, generator=gen),
            "head.bias": torch.randn(10, generator=gen),
        }
    )
    save_file(tensors, str(path))
    return tensors


def test_encoder_keys_load_one_to_one_and_the_rest_keeps_its_init(tmp_path: Path) -> None:
    file = plain_vit(tmp_path / "vit.safetensors")
    torch.manual_seed(0)
    model = build_seggpt(get_preset("seggpt-test"))  # 64 wide, 4 heads, depth 4, 14x14 + cls position table
    before = weights(model)
    result = load_pretrained_encoder(model, tmp_path / "vit.safetensors", blocks=[1, 2, 4, 5], num_heads=4)
    after = weights(model)
    assert result.blocks == [1, 2, 4, 5] and "head.weight" in result.unused and "cls_token" in result.unused
    for ours, theirs in enumerate([1, 2, 4, 5]):
        for part in BLOCK_PARTS:
            assert torch.equal(after[f"blocks.{ours}.{part}"], file[f"blocks.{theirs}.{part}"])
    for key in ("patch_embed.proj.weight", "patch_embed.proj.bias", "norm.weight", "norm.bias"):
        assert torch.equal(after[key], file[key])
    # the 7x7 table is resized to the model's 14x14 pretrain grid (the cls slot kept) by the project's resizing
    assert after["pos_embed"].shape == (1, 197, 64) and torch.equal(after["pos_embed"][:, :1], file["pos_embed"][:, :1])
    expected = resize_abs_pos(file["pos_embed"], True, (14, 14)).reshape(1, 196, 64)
    torch.testing.assert_close(after["pos_embed"][:, 1:], expected)
    untouched = [k for k in before if "rel_pos" in k or "token" in k or k.startswith("decoder")]
    assert untouched and all(torch.equal(before[k], after[k]) for k in untouched)
    assert len(result.loaded) == 4 * len(BLOCK_PARTS) + 5


@pytest.mark.parametrize(
    ("kwargs", "width", "message"),
    [
        ({}, 32, "patch embedding (32, 3, 16, 16) vs the model's (64, 3, 16, 16)"),
        ({"num_heads": 8}, 64, "the encoder has 8 heads, the model 4"),
        ({"blocks": [0, 1, 2, 9]}, 64, "blocks [9] are not in the file"),
        ({"blocks": [0, 1]}, 64, "2 blocks chosen ([0, 1]) for a model of depth 4"),
    ],
)
def test_mismatched_encoders_are_refused_with_the_reason(
    tmp_path: Path, kwargs: dict, width: int, message: str
) -> None:
    plain_vit(tmp_path / "vit.safetensors", width=width)
    model = build_seggpt(get_preset("seggpt-test"))
    before = weights(model)
    with pytest.raises(ValueError, match="cannot initialise the encoder") as err:
        load_pretrained_encoder(model, tmp_path / "vit.safetensors", **kwargs)
    assert message in str(err.value)
    assert all(torch.equal(before[k], v) for k, v in weights(model).items())  # nothing half-loaded


def test_a_seggpt_checkpoint_is_not_a_plain_vit(tmp_path: Path) -> None:
    tensors = plain_vit(tmp_path / "vit.safetensors")
    save_file({**tensors, "decoder_embed.weight": torch.zeros(4, 4)}, str(tmp_path / "other.safetensors"))
    model = build_seggpt(get_preset("seggpt-test"))
    before = weights(model)
    with pytest.raises(ValueError, match="keys outside the timm ViT layout"):
        load_pretrained_encoder(model, tmp_path / "other.safetensors")
    assert all(torch.equal(before[k], v) for k, v in weights(model).items())  # refused before any copy


def test_training_config_initialises_the_encoder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    file = plain_vit(tmp_path / "vit.safetensors")
    config = tiny_config(
        tmp_path, f"model.init_encoder={tmp_path / 'vit.safetensors'}", "model.init_encoder_blocks=[2, 3, 4, 5]"
    )
    assert config.model.init_encoder_blocks == (2, 3, 4, 5)
    model = build_model(config)
    assert torch.equal(model.state_dict()["blocks.0.attn.qkv.weight"], file["blocks.2.attn.qkv.weight"])
    assert "encoder initialised from" in capsys.readouterr().out
    with pytest.raises(ValueError, match="not both"):
        tiny_config(tmp_path, f"model.init_encoder={tmp_path}", f"model.init={tmp_path}")


@pytest.mark.skipif(not DEIT.is_file(), reason=f"pretrained DeiT-Tiny not found at {DEIT}")
def test_deit_tiny_fills_the_default_architecture() -> None:
    model = build_seggpt(get_preset("seggpt-vit-tiny-224"), init=True)
    result = load_pretrained_encoder(model, DEIT, num_heads=3)
    assert result.blocks == list(range(12)) and len(result.loaded) == 12 * len(BLOCK_PARTS) + 5
    assert sorted(result.unused) == ["cls_token", "head.bias", "head.weight"]
    with pytest.raises(ValueError, match="the encoder has 3 heads, the model 4"):
        load_pretrained_encoder(build_seggpt(get_preset("seggpt-test")), DEIT, num_heads=3)


def test_a_run_stopped_part_way_continues_exactly(tmp_path: Path) -> None:
    """run.stop_at ends a sitting with the schedule of run.steps; resuming reaches the straight run's weights."""

    def fresh(*overrides: str) -> Trainer:
        torch.manual_seed(0)
        return Trainer(tiny_config(*overrides), DistEnv(), model=build_seggpt(get_preset("seggpt-test")))

    straight = fresh(tmp_path / "a")
    straight.fit()
    first = fresh(tmp_path / "b", "run.stop_at=4")
    first.fit()
    assert first.step == 4 and (tmp_path / "b" / "model.safetensors").is_file()
    torch.manual_seed(7)
    resumed = fresh(tmp_path / "b", "run.resume=auto")
    resumed.fit()
    a, b = weights(straight.base_model), weights(resumed.base_model)
    assert resumed.step == 6 and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(ValueError, match="stop_at"):
        config_from_dict({}, ["run.steps=5", "run.stop_at=6"])
