"""Segmenter and Prediction on the random-weight seggpt-test model (64x32 canvas, 32x32 query)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from seggpt import Prediction, Segmenter, build_seggpt, get_preset
from seggpt.inference.canvas import build_canvases, denormalize, fit_to_size, normalize, tile_grid
from seggpt.inference.palette import palette
from seggpt.inference.prediction import decode_colour_output

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def model() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_seggpt(get_preset("seggpt-test")).eval()


def _images(n: int, size: tuple[int, int] = (32, 32), seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (*size, 3), dtype=np.uint8) for _ in range(n)]


def _masks(n: int, size: tuple[int, int] = (32, 32)) -> list[np.ndarray]:
    masks = []
    for i in range(n):
        mask = np.zeros(size, np.uint8)
        mask[2 + i : 20, 4 : 25 - i] = 1
        masks.append(mask)
    return masks


def test_segment_before_set_prompts_is_an_error(model: torch.nn.Module) -> None:
    with pytest.raises(RuntimeError, match=r"call Segmenter.set_prompts\(images, masks\) before segment"):
        Segmenter(model).segment(_images(1))


def test_batch_equals_one_by_one(model: torch.nn.Module) -> None:
    segmenter = Segmenter(model, ensemble="feature")
    segmenter.set_prompts(_images(2), _masks(2))
    queries = _images(3, seed=1)
    batched = segmenter.segment(queries, batch_size=3)
    single = [segmenter.segment([q], batch_size=1)[0] for q in queries]
    for a, b in zip(batched, single):
        np.testing.assert_allclose(a.colour, b.colour, atol=1e-3)
        assert (a.labels != b.labels).mean() < 0.01


def test_feature_ensemble_equals_the_grouped_model_call(model: torch.nn.Module) -> None:
    prompts, masks, queries = _images(3), _masks(3), _images(2, seed=1)
    segmenter = Segmenter(model, ensemble="feature")
    segmenter.set_prompts(prompts, masks)
    predictions = segmenter.segment(queries)
    P, Q = 3, 2
    prompt_images = torch.stack([normalize(p) for p in prompts]).repeat(Q, 1, 1, 1)
    prompt_targets = torch.stack([normalize(np.repeat(m[..., None] * 255, 3, -1)) for m in masks]).repeat(Q, 1, 1, 1)
    query_images = torch.stack([normalize(q) for q in queries]).repeat_interleave(P, dim=0)
    image_canvas, target_canvas = build_canvases(prompt_images, prompt_targets, query_images)
    with torch.no_grad():
        out = model(image_canvas, target_canvas, ensemble_groups=torch.arange(Q).repeat_interleave(P))
    for q, prediction in enumerate(predictions):
        expected = denormalize(out[q * P, :, 32:])  # the official code reads the group's first canvas
        np.testing.assert_allclose(prediction.colour, expected, atol=1e-3)


def test_one_prompt_same_for_every_ensemble(model: torch.nn.Module) -> None:
    outputs = []
    for ensemble in ("feature", "none", "spatial"):
        segmenter = Segmenter(model, ensemble=ensemble)
        segmenter.set_prompts(_images(1), _masks(1))
        outputs.append(segmenter.segment(_images(1, seed=2))[0].colour)
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-5)
    np.testing.assert_allclose(outputs[0], outputs[2], atol=1e-5)


def test_no_ensemble_averages_the_single_prompt_outputs(model: torch.nn.Module) -> None:
    prompts, masks, query = _images(2), _masks(2), _images(1, seed=3)
    segmenter = Segmenter(model, ensemble="none")
    segmenter.set_prompts(prompts, masks)
    colour = segmenter.segment(query)[0].colour
    outs = []
    for p, m in zip(prompts, masks):
        image_canvas, target_canvas = build_canvases(
            normalize(p)[None], normalize(np.repeat(m[..., None] * 255, 3, -1))[None], normalize(query[0])[None]
        )
        with torch.no_grad():
            outs.append(model(image_canvas, target_canvas, query_only=True)[0])
    np.testing.assert_allclose(colour, denormalize((outs[0] + outs[1]) / 2), atol=1e-3)


def test_spatial_ensemble_tiles_prompts_and_repeats_when_not_square() -> None:
    solids = [np.full((8, 8, 3), v, np.uint8) for v in (0, 80, 160)]
    tiled = denormalize(tile_grid(solids, (32, 32), "stretch", target=True))
    for (r, c), value in zip([(0, 0), (0, 16), (16, 0), (16, 16)], (0, 80, 160, 0)):  # 3 prompts -> 2x2, cycled
        np.testing.assert_allclose(tiled[r : r + 16, c : c + 16], value, atol=1e-3)


def test_pad_resize_keeps_aspect_and_removes_padding(model: torch.nn.Module) -> None:
    x, inner = fit_to_size(np.full((10, 20, 3), 200, np.uint8), (32, 32), "pad", target=False)
    assert inner == (16, 32) and (x[:, 16:] == 0).all() and (x[:, :16] != 0).all()
    segmenter = Segmenter(model, resize="pad")
    segmenter.set_prompts(_images(1, (20, 12)), _masks(1, (20, 12)))
    query = _images(1, (16, 32), seed=4)  # fills the top half of the padded 32x32 query exactly
    prediction = segmenter.segment(query)[0]
    assert prediction.labels.shape == (16, 32) and prediction.colour.shape == (16, 32, 3)
    prompt_image, _ = fit_to_size(_images(1, (20, 12))[0], (32, 32), "pad", target=False)
    prompt_target, _ = fit_to_size(segmenter._prompts.targets[0], (32, 32), "pad", target=True)
    query_image, _ = fit_to_size(query[0], (32, 32), "pad", target=False)
    image_canvas, target_canvas = build_canvases(prompt_image[None], prompt_target[None], query_image[None])
    with torch.no_grad():
        out = model(image_canvas, target_canvas, query_only=True)[0]
    np.testing.assert_allclose(prediction.colour, denormalize(out[:, :16]), atol=1e-4)
    for size in [(7, 45), (50, 9), (33, 33)]:
        assert segmenter.segment(_images(1, size))[0].labels.shape == size


def test_label_map_prompts_predict_user_class_ids(model: torch.nn.Module) -> None:
    labels = np.zeros((32, 32), np.uint8)
    labels[:10], labels[20:] = 3, 7
    segmenter = Segmenter(model, seg_type="semantic", upsample="bilinear", dtype="bfloat16")
    segmenter.set_prompts(_images(1), [labels])
    prediction = segmenter.segment(_images(1, (40, 24), seed=5))[0]
    assert segmenter.class_ids.tolist() == [3, 7]
    assert set(np.unique(prediction.labels).tolist()) <= {0, 3, 7}
    assert prediction.masks.shape == (2, 40, 24) and prediction.labels.shape == (40, 24)
    assert np.isfinite(prediction.colour).all() and (prediction.confidence >= 0).all()


def test_decode_nearest_and_bilinear() -> None:
    colours = palette(2)
    small = torch.tensor(colours[[[0, 1], [2, 1]]], dtype=torch.float32).permute(2, 0, 1)  # (3, 2, 2) exact colours
    ids = np.array([4, 9])
    nearest = decode_colour_output(small, (4, 6), ids, colours, "nearest")
    np.testing.assert_array_equal(nearest.labels, np.array([[0] * 3 + [4] * 3] * 2 + [[9] * 3 + [4] * 3] * 2))
    assert (nearest.confidence == 1).all()
    bilinear = decode_colour_output(small, (4, 6), ids, colours, "bilinear")
    assert bilinear.labels.shape == (4, 6) and bilinear.labels[0, 0] == 0 and bilinear.labels[-1, -1] == 4
    assert bilinear.confidence.min() < 1


def test_bad_inputs(model: torch.nn.Module) -> None:
    with pytest.raises(ValueError, match="ensemble must be one of feature, spatial, none"):
        Segmenter(model, ensemble="grid")  # type: ignore[arg-type]
    segmenter = Segmenter(model)
    with pytest.raises(ValueError, match="one mask per prompt image"):
        segmenter.set_prompts(_images(2), _masks(1))
    with pytest.raises(ValueError, match=r"prompt mask 0: mask size 30x32 \(WxH\) differs"):
        segmenter.set_prompts(_images(1), _masks(1, (32, 30)))
    segmenter.set_prompts(_images(1), _masks(1))
    with pytest.raises(ValueError, match=r"query image 0: expected an \(H, W, 3\) uint8"):
        segmenter.segment([np.zeros((4, 4), np.float32)])


def test_one_image_instead_of_a_list_is_a_clear_error(model: torch.nn.Module, tmp_path: Path) -> None:
    """`segment("q.jpg")` once read the path letter by letter ("expected an image file, got a folder: /")."""
    from PIL import Image

    path = tmp_path / "q.png"
    Image.fromarray(_images(1)[0]).save(path)
    segmenter = Segmenter(model)
    for images, masks in [(str(path), str(path)), (_images(1)[0], _masks(1)[0]), (_images(1), _masks(1)[0])]:
        with pytest.raises(TypeError, match=r"expected a list with one entry per image.*wrap it in a list"):
            segmenter.set_prompts(images, masks)  # type: ignore[arg-type]
    segmenter.set_prompts(_images(1), _masks(1))
    for single in (str(path), path, _images(1)[0], Image.open(path)):
        with pytest.raises(TypeError, match=r"query_images: expected a list with one entry per image"):
            segmenter.segment(single)  # type: ignore[arg-type]
    assert len(segmenter.segment([str(path)])) == 1
    assert len(segmenter.segment(np.stack(_images(2)))) == 2  # a (N, H, W, 3) batch is still a list of images


@pytest.mark.data
@pytest.mark.skipif(not (DATA / "examples").is_dir(), reason="../shared/data/examples is absent")
def test_official_example_prompts(model: torch.nn.Module) -> None:
    official = DATA / "examples" / "seggpt_official"
    segmenter = Segmenter(model)
    segmenter.set_prompts(
        [official / "hmbb_1.jpg", official / "hmbb_2.jpg"],
        [official / "hmbb_1_target.png", official / "hmbb_2_target.png"],
    )
    (prediction,) = segmenter.segment([official / "hmbb_3.jpg"])
    assert isinstance(prediction, Prediction) and prediction.labels.shape == (400, 700)
    assert prediction.overlay().shape == (400, 700, 3)
