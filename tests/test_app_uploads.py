"""The web app's pure functions: every bad upload gives a one-line message; good uploads give the right arrays."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seggpt import SegGPT, Segmenter
from seggpt.app.images import ImageOptions, PromptUpload, legend_html, read_prompts, segment_images, unique_stems
from seggpt.app.uploads import (
    BRUSH_COLOURS,
    Limits,
    downscale_mask,
    fit_size,
    painted_labels,
    read_image,
    read_mask,
)
from seggpt.app.videos import first_mask_labels, open_video, segment_video
from seggpt.inference import load_tuned_prompt
from seggpt.tuning import TuneConfig, prompt_dataset, tune_prompt

LIMITS = Limits(max_side=64, max_frames=5, max_classes=3, max_queries=2, max_upload_mb=0.05)


def _image(path: Path, size: tuple[int, int], seed: int = 0) -> Path:
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)).save(path)
    return path


def _mask(path: Path, size: tuple[int, int], values: tuple[int, ...] = (255,)) -> Path:
    mask = np.zeros(size, np.uint8)
    for i, value in enumerate(values):
        mask[i * 4 : i * 4 + 3, : size[1] // 2] = value
    Image.fromarray(mask).save(path)
    return path


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    return {
        "image": _image(tmp_path / "p.png", (30, 40)),
        "mask": _mask(tmp_path / "p_mask.png", (30, 40)),
        "query": _image(tmp_path / "q.png", (20, 24), seed=1),
        "text": (tmp_path / "notes.txt").write_text("not an image") and tmp_path / "notes.txt",
        "empty_mask": _mask(tmp_path / "empty.png", (30, 40), values=()),
        "small_mask": _mask(tmp_path / "small.png", (10, 40)),
        "classes": _mask(tmp_path / "classes.png", (30, 40), values=(1, 2, 3, 4)),
    }


def _one_line(err: pytest.ExceptionInfo[ValueError], *words: str) -> None:
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    for word in words:
        assert word in message, message


@pytest.mark.parametrize(
    ("prompt_keys", "words"),
    [
        (("text", "mask"), ("prompt 1 image", "notes.txt", "not an image")),
        (("image", "text"), ("prompt 1 mask", "notes.txt", "not an image")),
        (("image", "empty_mask"), ("empty", "foreground")),
        (("image", "small_mask"), ("small.png", "40x10", "40x30")),
        (("image", "classes"), ("4 classes", "at most 3", "--max-classes")),
        (("image", None), ("prompt 1 has no mask", "paint")),
        ((None, "mask"), ("prompt 1 has a mask but no image",)),
    ],
)
def test_bad_prompt_uploads(files: dict[str, Path], prompt_keys: tuple, words: tuple[str, ...]) -> None:
    image, mask = (files[k] if k else None for k in prompt_keys)
    with pytest.raises(ValueError) as err:
        read_prompts([PromptUpload(image, mask)], LIMITS)
    _one_line(err, *words)


def test_no_prompt_no_query_too_many_queries(files: dict[str, Path], tiny_model: Callable[..., SegGPT]) -> None:
    with pytest.raises(ValueError) as err:
        read_prompts([PromptUpload(None), PromptUpload(None)], LIMITS)
    _one_line(err, "no prompt")
    prompt = [PromptUpload(files["image"], files["mask"])]
    for queries, words in (([], ("no query image",)), ([files["query"]] * 3, ("3 query images", "at most 2"))):
        with pytest.raises(ValueError) as err:
            segment_images(tiny_model(), prompt, queries, ImageOptions(), LIMITS, Path("unused"))
        _one_line(err, *words)


def test_upload_size_limit(tmp_path: Path) -> None:
    big = _image(tmp_path / "big.png", (200, 200))  # ~120 kB of noise, above the 0.05 MB limit
    with pytest.raises(ValueError) as err:
        read_image(big, LIMITS, "query 1")
    _one_line(err, "query 1 big.png", "MB", "--max-upload-mb")


def test_large_image_and_mask_are_downscaled_together(tmp_path: Path) -> None:
    limits = Limits(max_side=32)
    image, size, note = read_image(_image(tmp_path / "wide.png", (40, 100)), limits, "prompt 1 image")
    assert image.shape == (13, 32, 3) and size == (40, 100)
    assert note is not None and "100x40 to 32x13" in note and "--max-side 32" in note
    labels = np.zeros((40, 100), np.uint16)
    labels[:, 50:] = 700  # 16-bit ids survive nearest downscaling unblended
    Image.fromarray(labels).save(tmp_path / "wide_mask.png")
    mask = read_mask(tmp_path / "wide_mask.png", size, limits, "prompt 1 mask")
    assert mask.shape == (13, 32) and set(np.unique(mask).tolist()) == {0, 700}
    assert fit_size((10, 20), 32) == (10, 20) and downscale_mask(labels, (40, 100)) is labels


def test_painted_layers_decode_to_brush_classes() -> None:
    layer = np.zeros((8, 10, 4), np.uint8)
    layer[:4, :5] = (*BRUSH_COLOURS[0], 255)
    layer[4:, 5:] = (*BRUSH_COLOURS[2], 255)
    layer[0, 9] = (*BRUSH_COLOURS[1], 40)  # a faint anti-aliased edge pixel: not painted
    layer[7, 0] = (200, 10, 30, 255)  # off-palette edge colour: the nearest brush (red)
    later = np.zeros_like(layer)
    later[:2, :2] = (*BRUSH_COLOURS[1], 255)  # paints over the red
    labels = painted_labels([layer, later], (8, 10))
    assert labels[3, 3] == 1 and labels[6, 6] == 3 and labels[0, 0] == 2 and labels[7, 0] == 1
    assert labels[0, 9] == 0 and labels[5, 2] == 0
    assert painted_labels([layer], (4, 5)).shape == (4, 5)  # a canvas of another size is resized


def test_segment_images_equals_the_segmenter(
    files: dict[str, Path], tiny_model: Callable[..., SegGPT], tmp_path: Path
) -> None:
    model = tiny_model()
    counts: list[tuple[int, int | None]] = []
    result = segment_images(
        model,
        [PromptUpload(files["image"], files["mask"])],
        [files["query"]] * 6,
        ImageOptions(seg_type="semantic"),
        Limits(),
        tmp_path / "out",
        on_query=lambda done, total: counts.append((done, total)),
    )
    assert counts == [(0, 6), (4, 6), (6, 6)]  # before each of the segmenter's batches of 4, and at the end
    segmenter = Segmenter(model, seg_type="semantic")
    segmenter.set_prompts([files["image"]], [files["mask"]])
    expected = segmenter.segment([files["query"]])[0]
    names = [[f.name for f in q.files] for q in result.queries]
    assert names[:2] == [["q.png", "q_mask_1.png", "q.json"], ["q_2.png", "q_2_mask_1.png", "q_2.json"]]
    assert len(names) == 6
    for query in result.queries:
        np.testing.assert_array_equal(np.asarray(Image.open(query.files[0])), expected.labels)
        np.testing.assert_array_equal(query.overlay, expected.overlay())
    assert "class 1" in legend_html(result.class_ids, result.colours)


def test_tuning_first_equals_tune_prompt_then_the_segmenter(
    files: dict[str, Path], tiny_model: Callable[..., SegGPT], tmp_path: Path
) -> None:
    """Tune steps > 0: the page learns a prompt from its examples as `seggpt tune --prompt` does, then segments."""
    model = tiny_model()
    prompt = [PromptUpload(files["image"], files["mask"])]
    result = segment_images(model, prompt, [files["query"]], ImageOptions(tune_steps=2), Limits(), tmp_path / "a")
    segmenter = Segmenter(model)
    segmenter.set_tuned_prompt(tune_prompt(model, prompt_dataset([(files["image"], files["mask"])]), TuneConfig(2)))
    expected = segmenter.segment([files["query"]])[0]
    np.testing.assert_array_equal(result.queries[0].prediction.labels, expected.labels)
    assert result.class_ids.tolist() == [1]
    assert result.tuned_prompt is not None and result.tuned_prompt.parent == tmp_path / "a"
    reloaded = Segmenter(model)
    reloaded.set_tuned_prompt(load_tuned_prompt(result.tuned_prompt, model))  # the download, as the CLI reads it
    np.testing.assert_array_equal(reloaded.segment([files["query"]])[0].labels, expected.labels)
    untuned = segment_images(model, prompt, [files["query"]], ImageOptions(), Limits(), tmp_path / "b")
    assert untuned.tuned_prompt is None and not list((tmp_path / "b").glob("*.safetensors"))
    assert not np.array_equal(untuned.queries[0].prediction.colour, result.queries[0].prediction.colour)
    for limits, steps in [(Limits(max_tune_steps=10), 20), (Limits(max_tune_steps=0), 1), (Limits(), -1)]:
        with pytest.raises(ValueError) as err:
            segment_images(model, prompt, [files["query"]], ImageOptions(tune_steps=steps), limits, tmp_path / "c")
        _one_line(err, f"{steps} tuning steps", f"0 to {limits.max_tune_steps}", "--max-tune-steps")


def test_painted_prompts_show_brush_colours(
    files: dict[str, Path], tiny_model: Callable[..., SegGPT], tmp_path: Path
) -> None:
    layer = np.zeros((30, 40, 4), np.uint8)
    layer[5:15, 5:20] = (*BRUSH_COLOURS[1], 255)  # green = class 2
    result = segment_images(
        tiny_model(),
        [PromptUpload(files["image"], None, [layer])],
        [files["query"]],
        ImageOptions(),
        Limits(),
        tmp_path,
    )
    assert result.class_ids.tolist() == [2]
    np.testing.assert_array_equal(result.colours, [[0, 0, 0], BRUSH_COLOURS[1]])
    assert unique_stems(["a/x.png", "b/x.jpg", "y.png"]) == ["x", "x_2", "y"]


def _frames(folder: Path, count: int, size: tuple[int, int] = (24, 32)) -> list[Path]:
    folder.mkdir()
    return [_image(folder / f"{i:05d}.png", size, seed=i) for i in range(count)]


def test_bad_video_uploads(tmp_path: Path, files: dict[str, Path]) -> None:
    corrupt = tmp_path / "clip.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated")
    frames = _frames(tmp_path / "frames", 2)
    cases = [
        ([], ("no video",)),
        ([corrupt], ("clip.mp4", "corrupt")),
        ([frames[0]], ("one image, not a video",)),
        ([frames[0], files["text"]], ("mixes",)),
    ]
    for paths, words in cases:
        with pytest.raises(ValueError) as err:
            open_video(paths, LIMITS, tmp_path / "work")
        _one_line(err, *words)


def test_bad_first_masks(tmp_path: Path, files: dict[str, Path]) -> None:
    cases = [
        (None, [], ("no first-frame mask",)),
        (files["empty_mask"], [], ("empty",)),
        (files["mask"], [], ("40x30", "32x24")),
        (files["text"], [], ("notes.txt", "not a label map")),
    ]
    for mask, painted, words in cases:
        with pytest.raises(ValueError) as err:
            first_mask_labels(mask, painted, (24, 32), LIMITS)
        _one_line(err, *words)
    with pytest.raises(ValueError) as err:
        first_mask_labels(files["classes"], [], (30, 40), LIMITS)
    _one_line(err, "4 objects", "at most 3")


def test_frames_of_different_sizes(tmp_path: Path, tiny_model: Callable[..., SegGPT]) -> None:
    frames = [*_frames(tmp_path / "frames", 2), _image(tmp_path / "frames" / "00002.png", (20, 32))]
    painted = np.zeros((24, 32, 4), np.uint8)
    painted[5:10, 5:10] = (*BRUSH_COLOURS[0], 255)
    with pytest.raises(ValueError) as err:
        segment_video(tiny_model(), frames, None, [painted], 2, LIMITS, tmp_path / "out")
    _one_line(err, "video frames", "00002", "one size")
    assert not list((tmp_path / "out").glob("*.mp4")) and not list((tmp_path / "out").glob("*davis*"))


def test_segment_video_cuts_and_downscales(tmp_path: Path, tiny_model: Callable[..., SegGPT]) -> None:
    frames = _frames(tmp_path / "frames", 7, size=(48, 80))
    painted = np.zeros((48, 80, 4), np.uint8)
    painted[10:30, 10:40] = (*BRUSH_COLOURS[0], 255)
    done = []
    result = segment_video(
        tiny_model(), frames, None, [painted], 2, LIMITS, tmp_path / "out", lambda d, t: done.append((d, t))
    )
    assert result.frames == 5 and done[-1] == (5, 5) and result.object_ids.tolist() == [1]
    assert any("cut after 5 frames" in n for n in result.notes) and any("80x48 to 64x38" in n for n in result.notes)
    assert result.overlay.is_file() and result.archive.suffix == ".zip"
    np.testing.assert_array_equal(result.palette[1], BRUSH_COLOURS[0])


def test_user_errors_become_one_escaped_line_in_the_page() -> None:
    gr = pytest.importorskip("gradio")
    from seggpt.app.widgets import user_errors

    @user_errors
    def handler(name: str) -> str:
        raise ValueError(f"prompt 1 mask {name}: bad\n  mask")

    with pytest.raises(gr.Error) as err:
        handler("<img src=x>.png")
    assert err.value.message == "prompt 1 mask &lt;img src=x&gt;.png: bad mask"
    assert user_errors(lambda: "fine")() == "fine"
