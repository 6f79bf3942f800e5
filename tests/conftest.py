"""Shared fixtures: the official fixture shipped in tests/data, a tiny model factory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from seggpt.model import SegGPT, SegGPTConfig, build_seggpt, get_preset

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DATA = SHARED / "data"
# Copied from ../shared/reference (see tests/data/README.md) so that a fresh clone checks parity with the official code.
REFERENCE = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _never_download(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test reaches the network or the user's cache: offline hub, an empty temporary cache folder."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SEGGPT_CACHE", str(tmp_path_factory.mktemp("seggpt_cache")))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """tests/data: the official fixture (`official_small_a_*`) and the official ViT-L key list, shipped in the repo."""
    return REFERENCE


@pytest.fixture(scope="session")
def official_config_path(reference_dir: Path) -> Path:
    return reference_dir / "official_small_a_config.json"


@pytest.fixture(scope="session")
def official_weights_path(reference_dir: Path) -> Path:
    return reference_dir / "official_small_a_weights.safetensors"


@pytest.fixture(scope="session")
def official_io(reference_dir: Path) -> dict[str, torch.Tensor]:
    """Inputs and official outputs: prompt_images/prompt_targets (3,3,64,64), query_image (1,3,64,64), `<case>.pred`."""
    return load_file(reference_dir / "official_small_a_io.safetensors")


def official_canvases(io: dict[str, torch.Tensor], num_prompts: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, 128, 64) image and target canvases of the fixture: prompt on top, query below, target = prompt twice."""
    prompts, targets = io["prompt_images"][:num_prompts], io["prompt_targets"][:num_prompts]
    image_canvas = torch.cat([prompts, io["query_image"].expand(num_prompts, -1, -1, -1)], dim=2)
    target_canvas = torch.cat([targets, targets], dim=2)
    return image_canvas, target_canvas


@pytest.fixture
def tiny_model() -> Callable[..., SegGPT]:
    """Factory: a randomly initialised `seggpt-test` model (64x32 canvas) in eval mode, seeded."""

    def make(seed: int = 0, config: SegGPTConfig | None = None) -> SegGPT:
        torch.manual_seed(seed)
        model = build_seggpt(config or get_preset("seggpt-test"))
        with torch.no_grad():  # non-trivial values for the tensors init leaves at zero or one
            for name, param in model.named_parameters():
                if name.endswith(("bias", "rel_pos_h", "rel_pos_w")) or "norm" in name or "decoder_pred.1" in name:
                    param.add_(torch.randn_like(param) * 0.02)
        return model.eval()

    return make


def random_canvases(config: SegGPTConfig, batch: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, H, W) random image and target canvases for `config`."""
    gen = torch.Generator().manual_seed(seed)
    shape = (batch, 3, *config.image_size)
    return torch.randn(shape, generator=gen), torch.randn(shape, generator=gen)
