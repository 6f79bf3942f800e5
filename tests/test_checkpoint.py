"""Checkpoint loading and saving: our format round trip, position-table resizing, bad files, named checkpoints."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import seggpt
from conftest import random_canvases
from seggpt.cli.main import main as cli_main
from seggpt.model import SegGPT, build_seggpt, get_preset, load_model, save_model
from seggpt.model.checkpoint import checkpoint_filter_fn
from seggpt.model.rel_pos import resize_rel_pos

ModelFactory = Callable[..., SegGPT]


def outputs(model: SegGPT) -> torch.Tensor:
    image_canvas, target_canvas = random_canvases(model.config, 2, seed=3)
    with torch.no_grad():
        return model(image_canvas, target_canvas, ensemble_groups=torch.tensor([0, 0]))


def official_file(model: SegGPT, path: Path) -> Path:
    """`model` written as an official-layout `.pth`: {"model": state_dict}."""
    torch.save({"model": model.state_dict()}, path)
    return path


def test_round_trip_through_our_format(tmp_path: Path, tiny_model: ModelFactory) -> None:
    model = tiny_model()
    path = save_model(model, tmp_path / "sub" / "tiny.safetensors")
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.safetensors"]  # no temporary file left
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata()
    assert metadata["format"] == "seggpt" and json.loads(metadata["seggpt_config"]) == model.config.to_dict()
    loaded = seggpt.load_model(path)  # needs nothing else
    assert loaded.config == model.config and not loaded.training
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert torch.equal(a, b), name
    torch.testing.assert_close(outputs(loaded), outputs(model), atol=0, rtol=0)


def test_official_pth_with_config_and_dtype(tmp_path: Path, tiny_model: ModelFactory) -> None:
    model = tiny_model()
    path = official_file(model, tmp_path / "tiny.pth")
    for config in ("seggpt-test", get_preset("seggpt-test")):
        torch.testing.assert_close(outputs(load_model(path, config=config)), outputs(model), atol=0, rtol=0)
    legacy = tmp_path / "legacy.pth"
    torch.save(model.state_dict(), legacy, _use_new_zipfile_serialization=False)
    torch.testing.assert_close(outputs(load_model(legacy, config="seggpt-test")), outputs(model), atol=0, rtol=0)
    half = load_model(path, config="seggpt-test", dtype=torch.bfloat16)
    assert {p.dtype for p in half.parameters()} == {torch.bfloat16}


def test_image_size_resizes_relative_position_tables(tmp_path: Path, tiny_model: ModelFactory) -> None:
    model = tiny_model()
    path = save_model(model, tmp_path / "tiny.safetensors")
    bigger = load_model(path, image_size=(96, 48))  # grid 4x2 -> 6x3
    assert bigger.config.image_size == (96, 48)
    rel_h, rel_w = bigger.blocks[0].attn.rel_pos_h, bigger.blocks[0].attn.rel_pos_w
    assert rel_h.shape == (11, 16) and rel_w.shape == (5, 16)
    torch.testing.assert_close(rel_h, resize_rel_pos(model.blocks[0].attn.rel_pos_h.detach(), 11))
    assert torch.equal(bigger.pos_embed, model.pos_embed)  # the pretrain table is resized at run time instead
    assert torch.isfinite(outputs(bigger)).all()


def test_filter_fn_resizes_pos_embed_and_is_pure(tiny_model: ModelFactory) -> None:
    model = tiny_model()  # pretrain 224: (1, 1 + 14*14, 64)
    state_dict = model.state_dict()
    config = type(model.config)(**{**model.config.__dict__, "pretrain_img_size": 64, "image_size": (32, 32)})
    target = build_seggpt(config, device="meta", init=False)
    filtered = checkpoint_filter_fn(state_dict, target)
    assert filtered["pos_embed"].shape == (1, 1 + 4 * 4, 64)
    assert torch.equal(filtered["pos_embed"][:, 0], state_dict["pos_embed"][:, 0])  # cls slot kept
    assert filtered["blocks.1.attn.rel_pos_h"].shape == (3, 16)
    assert state_dict["pos_embed"].shape == (1, 197, 64) and state_dict["blocks.1.attn.rel_pos_h"].shape == (7, 16)
    assert filtered["mask_token"] is state_dict["mask_token"]


def test_mismatched_state_dict_lists_every_problem(tmp_path: Path, tiny_model: ModelFactory) -> None:
    state_dict = tiny_model().state_dict()
    del state_dict["norm.weight"], state_dict["blocks.2.mlp.fc1.bias"]
    state_dict["extra.weight"] = torch.zeros(3)
    state_dict["blocks.0.mlp.fc1.weight"] = torch.zeros(5, 64)
    path = tmp_path / "bad.pth"
    torch.save({"model": state_dict}, path)
    with pytest.raises(ValueError) as info:
        load_model(path, config="seggpt-test")
    message = str(info.value)
    assert str(path) in message
    assert "2 missing keys: blocks.2.mlp.fc1.bias, norm.weight" in message
    assert "1 unexpected keys: extra.weight" in message
    assert "1 wrong shapes: blocks.0.mlp.fc1.weight: file (5, 64) vs model (256, 64)" in message


def test_many_missing_keys_are_capped(tmp_path: Path, tiny_model: ModelFactory) -> None:
    state_dict = {k: v for k, v in tiny_model().state_dict().items() if not k.startswith("blocks.")}
    path = tmp_path / "no_blocks.safetensors"
    save_file(state_dict, str(path))
    with pytest.raises(ValueError, match=r"56 missing keys: blocks.0.norm1.weight, .* and 46 more"):
        load_model(path, config="seggpt-test")


def test_truncated_files(tmp_path: Path, tiny_model: ModelFactory) -> None:
    model = tiny_model()
    for good in (save_model(model, tmp_path / "ours.safetensors"), official_file(model, tmp_path / "official.pth")):
        data = good.read_bytes()
        for cut in (len(data) // 2, len(data) - 7):
            bad = tmp_path / f"cut_{cut}_{good.name}"
            bad.write_bytes(data[:cut])
            with pytest.raises(ValueError, match=r"truncated") as info:
                load_model(bad, config="seggpt-test")
            assert str(bad) in str(info.value)
    header_cut = tmp_path / "header_cut.safetensors"
    header_cut.write_bytes((tmp_path / "ours.safetensors").read_bytes()[:100])
    with pytest.raises(ValueError, match=r"truncated safetensors file: its header needs \d+ bytes"):
        load_model(header_cut)


def test_corrupted_files(tmp_path: Path, tiny_model: ModelFactory) -> None:
    model = tiny_model()
    for good in (save_model(model, tmp_path / "ours.safetensors"), official_file(model, tmp_path / "official.pth")):
        data = bytearray(good.read_bytes())
        data[20:60] = b"\x00" * 40  # inside the safetensors JSON header / the first zip entry's header
        bad = tmp_path / f"corrupt_{good.name}"
        bad.write_bytes(bytes(data))
        with pytest.raises(ValueError, match=r"cannot read .* \(truncated or corrupted\?\)"):
            load_model(bad, config="seggpt-test")


def write_png(path: Path) -> None:
    from PIL import Image

    Image.new("RGB", (4, 4)).save(path)


@pytest.mark.parametrize(
    ("name", "write", "expected"),
    [
        ("config.json", lambda p: p.write_text('{"image_size": [64, 32]}'), "looks like JSON"),
        ("mask.png", write_png, "looks like a PNG image"),
        ("notes.pth", lambda p: p.write_text("hello, this is not a checkpoint"), "looks like text"),
        ("empty.safetensors", lambda p: p.write_bytes(b""), "looks like an empty file"),
    ],
)
def test_wrong_kind_of_file(tmp_path: Path, name: str, write: Callable[[Path], None], expected: str) -> None:
    path = tmp_path / name
    write(path)
    with pytest.raises(ValueError, match=rf"{path.name} is not a checkpoint: it {expected}; expected a torch"):
        load_model(path)


class Payload:
    """An arbitrary object: `weights_only` loading must refuse to unpickle it."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("unpickled code ran",))


def test_pickle_with_code_is_refused(tmp_path: Path, tiny_model: ModelFactory, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model": tiny_model().state_dict(), "extra": Payload()}, path)
    with pytest.raises(
        ValueError, match=r"holds pickled Python objects other than tensors \(print\); refusing to unpickle"
    ):
        load_model(path, config="seggpt-test")
    assert "unpickled code ran" not in capsys.readouterr().out


def test_wrong_content_in_valid_containers(tmp_path: Path) -> None:
    numbers = tmp_path / "numbers.pth"
    torch.save({"epoch": 3, "lr": 0.1}, numbers)
    with pytest.raises(ValueError, match=r"does not hold a state dict of tensors"):
        load_model(numbers)
    foreign = tmp_path / "resnet.safetensors"
    save_file({"conv1.weight": torch.zeros(2, 3, 1, 1), "fc.bias": torch.zeros(2)}, str(foreign))
    with pytest.raises(ValueError, match=r"neither official SegGPT nor transformers SegGpt names"):
        load_model(foreign)
    empty_dir = tmp_path / "empty_dir"
    empty_dir.mkdir()
    with pytest.raises(ValueError, match=r"holds no model.safetensors or pytorch_model.bin"):
        load_model(empty_dir)
    with pytest.raises(FileNotFoundError, match=r"no checkpoint file or folder .*seggpt-vit-large"):
        load_model(tmp_path / "missing.pth")


def test_named_checkpoint_offline_says_what_to_put_where(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEGGPT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError) as info:
        load_model("seggpt-vit-large")
    message = str(info.value)
    assert "HF_HUB_OFFLINE is set" in message
    assert f"put seggpt_vit_large.pth at {tmp_path / 'cache' / 'seggpt_vit_large.pth'}" in message
    assert "https://huggingface.co/BAAI/SegGPT/blob/main/seggpt_vit_large.pth" in message
    assert "SEGGPT_CACHE" in message


def test_named_checkpoint_without_hub_or_network(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    huggingface_hub = pytest.importorskip("huggingface_hub")
    monkeypatch.setenv("SEGGPT_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(FileNotFoundError, match=r"huggingface_hub is not installed.*put seggpt_vit_large.pth"):
        load_model("seggpt-vit-large")
    monkeypatch.setitem(sys.modules, "huggingface_hub", huggingface_hub)

    downloads = []

    def no_network(*args: object, **kwargs: object) -> str:
        raise OSError("Name or service not known")

    def failing_download(*args: object, **kwargs: object) -> str:
        downloads.append(args)
        return no_network()

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", failing_download)
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    # The host does not resolve: refused at once, without waiting out huggingface_hub's retries.
    monkeypatch.setattr("seggpt.model.hub.socket.getaddrinfo", no_network)
    with pytest.raises(FileNotFoundError, match=r"huggingface.co cannot be reached, the machine looks offline"):
        load_model("seggpt-vit-large")
    assert downloads == []
    # Behind a proxy the name may only resolve there: the download is tried, and its failure reported.
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    with pytest.raises(FileNotFoundError, match=r"download from BAAI/SegGPT failed: OSError: Name or service"):
        load_model("seggpt-vit-large")
    assert len(downloads) == 1


def test_named_checkpoint_from_cache_and_download(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_model: ModelFactory
) -> None:
    model = tiny_model()
    monkeypatch.setenv("SEGGPT_CACHE", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    huggingface_hub = pytest.importorskip("huggingface_hub")
    calls = []

    def fake_download(repo_id: str, filename: str, local_dir: Path) -> str:  # stands in for the network
        calls.append((repo_id, filename))
        return str(official_file(model, Path(local_dir) / filename))

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake_download)
    monkeypatch.setattr("seggpt.model.hub.socket.getaddrinfo", lambda *args: [])  # the host resolves
    for _ in range(2):  # the second call finds the cached file
        loaded = load_model("seggpt-vit-large", config="seggpt-test")
        torch.testing.assert_close(outputs(loaded), outputs(model), atol=0, rtol=0)
    assert calls == [("BAAI/SegGPT", "seggpt_vit_large.pth")]


def test_cli_convert(
    tmp_path: Path, official_weights_path: Path, official_config_path: Path, capsys: pytest.CaptureFixture
) -> None:
    dst = tmp_path / "fixture.safetensors"
    assert cli_main(["convert", str(official_weights_path), str(dst), "--config", str(official_config_path)]) == 0
    assert f"wrote {dst}" in capsys.readouterr().out
    converted = load_model(dst)
    reference = load_file(official_weights_path)
    assert converted.state_dict().keys() == reference.keys()
    assert all(torch.equal(converted.state_dict()[k], v) for k, v in reference.items())
    resized = tmp_path / "resized.safetensors"
    assert cli_main(["convert", str(dst), str(resized), "--image-size", "192", "64"]) == 0
    assert load_model(resized).config.image_size == (192, 64)
    assert cli_main(["convert", str(official_config_path), str(tmp_path / "x.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("seggpt convert: error:") and "is not a checkpoint" in err
    assert not (tmp_path / "x.safetensors").exists()


def test_cli_convert_help(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        cli_main(["convert", "--help"])
    out = capsys.readouterr().out
    assert "examples:" in out and "seggpt convert seggpt_vit_large.pth" in out and "--image-size H W" in out


def test_a_plain_vit_encoder_is_not_taken_for_a_seggpt_checkpoint(
    tmp_path: Path, tiny_model: ModelFactory, capsys: pytest.CaptureFixture
) -> None:
    """DeiT / timm weights (patch embedding, blocks, cls token, no SegGPT tokens or decoder) name what they are for."""
    model = tiny_model()
    encoder = {k: v for k, v in model.state_dict().items() if k.startswith(("patch_embed.", "blocks.", "norm."))}
    encoder["cls_token"] = torch.zeros(1, 1, model.config.embed_dim)
    path = tmp_path / "deit.safetensors"
    save_file(encoder, path)
    with pytest.raises(ValueError, match=r"holds a plain ViT encoder .*model.init_encoder"):
        load_model(path, config="seggpt-test")
    assert cli_main(["convert", str(path), str(tmp_path / "out.safetensors")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "plain ViT encoder" in err
    assert not (tmp_path / "out.safetensors").exists()


def test_a_training_state_loads_with_the_architecture_its_config_names(
    tmp_path: Path, tiny_model: ModelFactory
) -> None:
    """`seggpt train`'s last.pt: the weights under "model", the preset in its config; no --config needed."""
    from seggpt.training.state import TrainState, save_state

    model = tiny_model()
    config = {"model": {"preset": "seggpt-test"}, "run": {"steps": 10}}
    state = TrainState(model.state_dict(), {}, 3, torch.get_rng_state(), [], config)
    last = save_state(state, tmp_path / "run" / "last.pt")
    torch.testing.assert_close(outputs(load_model(last)), outputs(model), atol=0, rtol=0)
    assert cli_main(["convert", str(last), str(tmp_path / "model.safetensors")]) == 0
    assert load_model(tmp_path / "model.safetensors").config == model.config
    # a preset given as a JSON path (not a name) falls back to --config, as an official file does
    state.config = {"model": {"preset": str(tmp_path / "arch.json")}}
    save_state(state, last)
    with pytest.raises(ValueError, match=r"does not fit the architecture"):
        load_model(last)
    torch.testing.assert_close(outputs(load_model(last, config="seggpt-test")), outputs(model), atol=0, rtol=0)
    # a state whose config is not the mapping `seggpt train` writes: read as an official file, no traceback
    state.config = ["not", "a", "mapping"]  # type: ignore[assignment]
    save_state(state, last)
    torch.testing.assert_close(outputs(load_model(last, config="seggpt-test")), outputs(model), atol=0, rtol=0)
