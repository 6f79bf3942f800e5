"""In-context tuning: the prompt learns, resumes exactly, saves, refuses other models, and segments."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from seggpt import Segmenter, build_seggpt, get_preset, save_model
from seggpt.cli.main import main
from seggpt.inference.palette import palette
from seggpt.inference.tuned_prompt import load_tuned_prompt, model_fingerprint, save_tuned_prompt
from seggpt.training.pairs import PairOptions
from seggpt.tuning.datasets import prompt_dataset, tune_dataset
from seggpt.tuning.tuner import TuneConfig, sample_batch, tune_prompt

CAMVID = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "camvid"


def make_folder(root: Path, count: int = 3, size: tuple[int, int] = (40, 48)) -> tuple[Path, Path]:
    """images/ + masks/ with classes 1 (left third) and 2 (a box), 255 ignored in one corner."""
    images, masks = root / "images", root / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        mask = np.zeros(size, np.uint8)
        mask[:, : size[1] // 3] = 1
        mask[10 + i : 25 + i, 20:40] = 2
        mask[:3, -3:] = 255
        image = rng.integers(0, 60, (*size, 3)).astype(np.uint8)
        image[mask == 1] += 150
        image[mask == 2, 1] = 250
        Image.fromarray(image).save(images / f"{i}.jpg")
        Image.fromarray(mask).save(masks / f"{i}.png")
    return images, masks


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_seggpt(get_preset("seggpt-test")).eval()


@pytest.fixture
def folder(tmp_path: Path):
    images, masks = make_folder(tmp_path / "data")
    return tune_dataset("folder", images=images, masks=masks, class_names=["left", "box"])


@torch.no_grad()
def batch_loss(model, data, prompt) -> float:
    """The tuning loss of `prompt` on a fixed batch of the (un-augmented) training images."""
    options = PairOptions(crop_scale=(1.0, 1.0), flip_prob=0.0, jitter=0.0)
    colours = palette(len(data.class_ids))
    queries, targets, valid = sample_batch(data, colours, model.config.query_size, 4, np.random.default_rng(5), options)
    B = queries.shape[0]
    image = torch.cat([prompt.prompt_image.expand(B, -1, -1, -1), queries], dim=2)
    target = torch.cat([prompt.prompt_target.expand(B, -1, -1, -1), targets], dim=2)
    pred = model(image, target, seg_type="semantic", query_only=True)
    mask = torch.ones(B, model.grid_size[0] // 2, model.grid_size[1], dtype=torch.bool)
    return float(model.loss(pred, targets, mask, valid))


def test_folder_dataset_classes(folder) -> None:
    assert folder.class_ids == [1, 2] and folder.class_names == ["left", "box"] and folder.background


def test_tuning_lowers_the_loss_and_leaves_the_model_unchanged(model, folder) -> None:
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fixed = TuneConfig(steps=1, batch_size=2, crop_scale=(1.0, 1.0), flip_prob=0.0, save_every=0)
    first = tune_prompt(model, folder, dataclasses.replace(fixed, lr=1e-12, warmup_steps=0), progress=False)
    tuned = tune_prompt(model, folder, dataclasses.replace(fixed, steps=25, lr=0.05, warmup_steps=2), progress=False)
    assert not torch.equal(first.prompt_image, tuned.prompt_image)
    for name, value in model.state_dict().items():
        assert torch.equal(value, before[name]), name

    assert batch_loss(model, folder, tuned) < batch_loss(model, folder, first)


def test_resume_is_exact(model, folder, tmp_path: Path) -> None:
    config = TuneConfig(steps=6, batch_size=2, lr=0.05, warmup_steps=1, save_every=3)
    straight = tune_prompt(model, folder, config, progress=False)
    # interrupt a run right after its step-3 state is saved, then resume it to step 6
    partial = tmp_path / "partial.pt"

    class InterruptedRunError(Exception):
        pass

    import seggpt.tuning.tuner as tuner

    original = tuner.TuneState.save

    def save_then_stop(state: tuner.TuneState, path: Path) -> None:
        original(state, path)
        if state.step == 3:
            raise InterruptedRunError

    tuner.TuneState.save = save_then_stop  # type: ignore[method-assign]
    try:
        with pytest.raises(InterruptedRunError):
            tune_prompt(model, folder, config, state_path=partial, progress=False)
    finally:
        tuner.TuneState.save = original  # type: ignore[method-assign]
    resumed = tune_prompt(model, folder, config, state_path=partial, resume=True, progress=False)
    torch.testing.assert_close(resumed.prompt_image, straight.prompt_image, rtol=0, atol=0)
    torch.testing.assert_close(resumed.prompt_target, straight.prompt_target, rtol=0, atol=0)


def test_round_trip_and_wrong_model(model, folder, tmp_path: Path) -> None:
    tuned = tune_prompt(model, folder, TuneConfig(steps=2, batch_size=1), progress=False)
    path = save_tuned_prompt(tuned, tmp_path / "p.safetensors")
    loaded = load_tuned_prompt(path, model)
    torch.testing.assert_close(loaded.prompt_image, tuned.prompt_image)
    assert loaded.class_names == ["left", "box"] and loaded.model_fingerprint == model_fingerprint(model)
    torch.manual_seed(1)
    other = build_seggpt(get_preset("seggpt-test"))
    with pytest.raises(ValueError, match="tuned for other weights"):
        load_tuned_prompt(path, other)
    with pytest.raises(ValueError, match="tuned for a model with config"):
        load_tuned_prompt(path, build_seggpt(get_preset("seggpt-vit-tiny")))
    (tmp_path / "bad.safetensors").write_bytes(b"not a prompt")
    with pytest.raises(ValueError, match="not a tuned prompt"):
        load_tuned_prompt(tmp_path / "bad.safetensors")


def test_tuned_prompt_decodes_to_class_ids_without_background(model, folder) -> None:
    tuned = tune_prompt(model, folder, TuneConfig(steps=1, batch_size=1), progress=False)
    tuned.background = False
    tuned.class_ids = [0, 1]  # e.g. CamVid's raw ids, where 0 is a class (Sky)
    seg = Segmenter(model)
    seg.set_tuned_prompt(tuned)
    labels = seg.segment([np.zeros((30, 20, 3), np.uint8)])[0].labels
    assert labels.shape == (30, 20) and set(np.unique(labels)) <= {0, 1}
    assert seg.seg_type == "semantic"


def test_cli_tune_then_segment(model, tmp_path: Path) -> None:
    images, masks = make_folder(tmp_path / "data")
    weights = save_model(model, tmp_path / "m.safetensors")
    prompt = tmp_path / "prompt.safetensors"
    args = ["tune", "--dataset", "folder", "--images", str(images), "--masks", str(masks), "--model", str(weights),
            "--output", str(prompt), "--steps", "3", "--batch-size", "1", "--no-progress"]  # fmt: skip
    assert main(args) == 0 and prompt.is_file()
    out = tmp_path / "out"
    seg_args = ["segment", "--model", str(weights), "--tuned-prompt", str(prompt), "--input", str(images),
                "--output", str(out)]  # fmt: skip
    assert main(seg_args) == 0
    written = np.asarray(Image.open(out / "0.png"))
    assert written.shape == (40, 48) and set(np.unique(written)) <= {0, 1, 2}
    assert main(["segment", "--model", str(weights), "--input", str(images), "--output", str(out)]) == 2


def make_examples(root: Path, size: tuple[int, int] = (40, 48)) -> list[tuple[Path, Path]]:
    """Two examples as a user has them: a white-on-black mask (0/255) and a label map with ids 3 and 7 (254 void)."""
    root.mkdir(parents=True)
    images, masks = make_folder(root / "folder", count=2, size=size)
    binary = np.where(np.asarray(Image.open(masks / "0.png")) == 1, 255, 0).astype(np.uint8)
    labels = np.asarray(Image.open(masks / "1.png")).copy()
    labels[labels == 1], labels[labels == 2], labels[labels == 255] = 3, 7, 254
    Image.fromarray(binary).save(root / "a_mask.png")
    Image.fromarray(labels).save(root / "b_mask.png")
    return [(images / "0.jpg", root / "a_mask.png"), (images / "1.jpg", root / "b_mask.png")]


def test_prompt_dataset_reads_masks_as_segment_does(tmp_path: Path) -> None:
    pairs = make_examples(tmp_path / "ex")
    data = prompt_dataset(pairs, ignore_value=254)
    # one class table for both, as `seggpt segment --prompt` builds it: white on black is class 1, 3 and 7 kept
    assert data.class_ids == [1, 3, 7] and data.class_names == ["class 1", "class 3", "class 7"]
    assert data.background and data.source.files == [(Path(i), Path(m)) for i, m in pairs]
    first, second = data.source.load(0).labels, data.source.load(1).labels
    assert set(np.unique(first)) == {0, 1}  # 255 is the foreground of a white-on-black mask, never ignored
    assert set(np.unique(second)) == {-1, 0, 2, 3}  # rows of [bg, 1, 3, 7]; the void corner ignored
    assert (first[:, :16] == 1).all() and (second[:3, -3:] == -1).all()
    with pytest.raises(ValueError, match="2 class names given for 3 classes"):
        prompt_dataset(pairs, ignore_value=254, class_names=["left", "box"])


def test_examples_as_arrays_tune_as_files_do_and_resume_only_on_the_same_content(model, tmp_path: Path) -> None:
    pairs = make_examples(tmp_path / "ex")
    arrays = [(np.asarray(Image.open(i)), np.asarray(Image.open(m))) for i, m in pairs]
    from_files, from_arrays = prompt_dataset(pairs, ignore_value=254), prompt_dataset(arrays, ignore_value=254)
    assert from_arrays.source.files == [] and from_arrays.content == from_files.content
    config = TuneConfig(steps=3, batch_size=1, save_every=1)
    a = tune_prompt(model, from_files, config, progress=False)
    b = tune_prompt(model, from_arrays, config, state_path=tmp_path / "s.pt", progress=False)
    torch.testing.assert_close(a.prompt_image, b.prompt_image, rtol=0, atol=0)
    changed = [(image, mask.copy()) for image, mask in arrays]
    changed[1][1][0, 0] = 7
    with pytest.raises(ValueError, match=r"data\.content"):
        tune_prompt(model, prompt_dataset(changed, ignore_value=254), config, state_path=tmp_path / "s.pt",
                    resume=True, progress=False)  # fmt: skip


def test_tuning_on_examples_lowers_the_loss(model, tmp_path: Path) -> None:
    data = prompt_dataset(make_examples(tmp_path / "ex"), ignore_value=254)
    fixed = TuneConfig(steps=1, batch_size=2, crop_scale=(1.0, 1.0), flip_prob=0.0, save_every=0)
    first = tune_prompt(model, data, dataclasses.replace(fixed, lr=1e-12, warmup_steps=0), progress=False)
    tuned = tune_prompt(model, data, dataclasses.replace(fixed, steps=25, lr=0.05, warmup_steps=2), progress=False)
    assert tuned.class_ids == [1, 3, 7]
    assert batch_loss(model, data, tuned) < batch_loss(model, data, first)


def test_cli_tune_on_examples_writes_their_class_ids(model, tmp_path: Path, capsys) -> None:
    pairs = make_examples(tmp_path / "ex")
    weights = save_model(model, tmp_path / "m.safetensors")
    prompt = tmp_path / "prompt.safetensors"
    examples = [arg for pair in pairs for arg in ("--prompt", str(pair[0]), str(pair[1]))]
    common = ["--model", str(weights), "--steps", "2", "--batch-size", "1", "--no-progress"]
    assert main(["tune", *examples, "--ignore-value", "254", "--output", str(prompt), *common]) == 0
    assert load_tuned_prompt(prompt, model).class_ids == [1, 3, 7]
    out = tmp_path / "out"
    assert main(["segment", "--model", str(weights), "--tuned-prompt", str(prompt), "--input",
                 str(pairs[0][0]), "--output", str(out)]) == 0  # fmt: skip
    assert set(np.unique(np.asarray(Image.open(out / "0.png")))) <= {0, 1, 3, 7}
    capsys.readouterr()
    bad = [
        ([*examples, "--dataset", "folder"], "give either --dataset"),
        ([], "give either --dataset"),
        ([*examples, "--images", str(tmp_path)], "--images apply to --dataset"),
        (["--dataset", "camvid", "--data-root", str(tmp_path), "--ignore-value", "3"], "--ignore-value applies to"),
        (["--prompt", str(pairs[0][0]), str(tmp_path / "missing.png")], "missing.png"),
        (["--prompt", str(pairs[0][0]), str(pairs[0][0])], str(pairs[0][0])),  # a photo is no mask
        ([*examples, "--ignore-value", "254", "--output", str(pairs[1][1])], "b_mask.png"),  # over an example
    ]
    for extra, message in bad:
        output = [] if "--output" in extra else ["--output", str(tmp_path / "p2.safetensors")]
        assert main(["tune", *extra, *output, *common]) == 2, extra
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (extra, err)
    assert not (tmp_path / "p2.safetensors").exists()


@pytest.mark.skipif(not CAMVID.is_dir(), reason=f"CamVid not found at {CAMVID}")
def test_camvid_dataset_ids() -> None:
    data = tune_dataset("camvid", CAMVID)
    assert data.class_ids == list(range(11)) and not data.background
    sample = data.source.load(0)
    assert sample.labels.min() >= -1 and sample.labels.max() <= 11
