"""Parity with Hugging Face transformers' SegGpt on shared random weights, loaded through our transformers path.

transformers is a test dependency only. Its inputs: `pixel_values` = query image, `prompt_pixel_values` =
prompt image, `prompt_masks` = prompt target; it builds the same canvases (prompt on top, target = prompt
mask twice) and masks the bottom half by default.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from conftest import official_canvases
from seggpt.model import SegGPT, SegGPTConfig, load_model
from seggpt.model.hub import config_to_hf, official_to_hf

transformers = pytest.importorskip("transformers")
SegGptConfig = transformers.SegGptConfig
SegGptForImageSegmentation = transformers.SegGptForImageSegmentation

SMALL = dict(  # a small transformers config; merge_index must not exceed the first tap in transformers
    hidden_size=32,
    num_hidden_layers=4,
    num_attention_heads=4,
    mlp_dim=96,
    image_size=[64, 32],
    patch_size=16,
    decoder_hidden_size=8,
    merge_index=1,
    intermediate_hidden_state_indices=[1, 2, 3],
    pretrain_image_size=64,
    drop_path_rate=0.0,
)


def perturbed_hf_model(seed: int = 0) -> torch.nn.Module:
    """A small SegGptForImageSegmentation with every parameter random (no zero biases, no unit norms)."""
    torch.manual_seed(seed)
    model = SegGptForImageSegmentation(SegGptConfig(**SMALL)).eval()
    with torch.no_grad():
        for param in model.parameters():
            param.add_(torch.randn_like(param) * 0.05)
    return model


@pytest.fixture(scope="module")
def hf_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, SegGPT]:
    hf_model = perturbed_hf_model()
    folder = tmp_path_factory.mktemp("hf")
    hf_model.save_pretrained(folder)
    assert (folder / "model.safetensors").is_file() and (folder / "config.json").is_file()
    return hf_model, load_model(folder)


def random_inputs(batch: int, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, 3, 32, 32, generator=gen) for _ in range(3))  # type: ignore[return-value]


@pytest.mark.parametrize("seg_type", ["instance", "semantic"])
def test_matches_transformers(hf_pair: tuple[torch.nn.Module, SegGPT], seg_type: str) -> None:
    hf_model, model = hf_pair
    assert model.config.image_size == (64, 32) and model.config.merge_layer == 1
    assert model.config.feature_layers == (1, 2, 3) and model.config.mlp_ratio == 3.0
    query_image, prompt_image, prompt_target = random_inputs(2)
    with torch.no_grad():
        expected = hf_model(query_image, prompt_image, prompt_target, embedding_type=seg_type).pred_masks
        image_canvas = torch.cat([prompt_image, query_image], dim=2)
        target_canvas = torch.cat([prompt_target, prompt_target], dim=2)
        pred = model(image_canvas, target_canvas, seg_type=seg_type)  # type: ignore[arg-type]
    assert pred.shape == expected.shape == (2, 3, 64, 32)
    torch.testing.assert_close(pred, expected, atol=1e-5, rtol=0)


def test_encoder_features_match_transformers_seggpt_model(hf_pair: tuple[torch.nn.Module, SegGPT]) -> None:
    hf_model, model = hf_pair
    query_image, prompt_image, prompt_target = random_inputs(1, seed=2)
    with torch.no_grad():
        hf_out = hf_model.model(query_image, prompt_image, prompt_target, embedding_type="instance")
        tokens = model.embed(
            torch.cat([prompt_image, query_image], dim=2),
            torch.cat([prompt_target, prompt_target], dim=2),
            model.default_mask(1),
            torch.ones(1, dtype=torch.long),
        )
        features = model.encode(tokens)
    assert len(features) == len(hf_out.intermediate_hidden_states) == 3
    for ours, theirs in zip(features, hf_out.intermediate_hidden_states):
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_pytorch_model_bin_folder(tmp_path: Path, hf_pair: tuple[torch.nn.Module, SegGPT]) -> None:
    hf_model, model = hf_pair
    torch.save(hf_model.state_dict(), tmp_path / "pytorch_model.bin")
    (tmp_path / "config.json").write_text(json.dumps(hf_model.config.to_dict()))
    loaded = load_model(tmp_path / "pytorch_model.bin")
    for (name, ours), (_, theirs) in zip(loaded.state_dict().items(), model.state_dict().items()):
        assert torch.equal(ours, theirs), name


def test_encoder_only_checkpoint_is_rejected(tmp_path: Path, hf_pair: tuple[torch.nn.Module, SegGPT]) -> None:
    hf_model, _ = hf_pair
    hf_model.model.save_pretrained(tmp_path)  # SegGptModel: no decoder
    with pytest.raises(ValueError, match=r"8 missing keys: decoder_embed.weight"):
        load_model(tmp_path)


def hf_from_fixture(config_path: Path, weights_path: Path) -> torch.nn.Module:
    """transformers' model holding the official fixture weights, through the reverse rename table."""
    config = SegGptConfig(**config_to_hf(SegGPTConfig.from_json(config_path)))
    model = SegGptForImageSegmentation(config).eval()
    model.load_state_dict(official_to_hf(load_file(weights_path)), strict=True)
    return model


def test_feature_ensemble_official_vs_transformers(
    official_config_path: Path, official_weights_path: Path, official_io: dict[str, torch.Tensor]
) -> None:
    """Ours equals the official ensemble; transformers' averages both streams at the merge block and does not."""
    hf_model = hf_from_fixture(official_config_path, official_weights_path)
    model = load_model(official_weights_path, config=official_config_path)
    io = official_io
    query = io["query_image"].expand(3, -1, -1, -1)
    with torch.no_grad():
        hf_single = hf_model(query[:1], io["prompt_images"][:1], io["prompt_targets"][:1]).pred_masks
        hf_ensemble = hf_model(query, io["prompt_images"], io["prompt_targets"], feature_ensemble=True).pred_masks
        image_canvas, target_canvas = official_canvases(io, 3)
        ours = model(image_canvas, target_canvas, ensemble_groups=torch.zeros(3, dtype=torch.long))
    expected = io["ensemble_instance.pred"]
    torch.testing.assert_close(hf_single, io["single_instance.pred"], atol=1e-5, rtol=0)  # same weights, same model
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=0)
    hf_error = (hf_ensemble - expected).abs().max().item()
    assert 1e-3 < hf_error < 5e-2, hf_error  # reference section 1: about 8.7e-3
