"""`seggpt app` served on a free localhost port: driven by gradio_client and by a real headless Chromium.

Both check the answers against the commands (`seggpt segment`, `seggpt video`) on the same files. The browser
test uses the system's Chromium (Debian's `chromium`, which `.ci/run` installs) and skips, saying so, when none
is installed. `SEGGPT_APP_SCREENSHOT=docs/app.png` saves its screenshot of the finished page there.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch
from gradio_client import Client, handle_file
from PIL import Image

from seggpt import load_model
from seggpt.app.layout import EXAMPLES as EXAMPLES_ROOT
from seggpt.app.layout import build_app, launch
from seggpt.cli.main import main

EXAMPLES = EXAMPLES_ROOT / "shapes"
QUERIES = sorted((EXAMPLES / "queries").glob("*.png"))
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    """The page with the embedded default model, on a free port of 127.0.0.1, for this module's tests."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_ANALYTICS_ENABLED", "False")
        demo = build_app(load_model("seggpt-default"))
        yield launch(demo, port=_free_port(), block=False)
        demo.close()


def _labels(path: str | Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def _segment_cli(out: Path, prompts: list[tuple[Path, Path]], queries: list[Path], seg_type: str) -> Path:
    argv = ["segment", "--input", *map(str, queries), "--output", str(out), "--type", seg_type]
    for image, mask in prompts:
        argv += ["--prompt", str(image), str(mask)]
    assert main(argv) == 0
    return out


def test_image_api_equals_seggpt_segment(url: str, tmp_path: Path) -> None:
    client = Client(url, verbose=False)
    prompts = [(EXAMPLES / f"prompt_{i}.png", EXAMPLES / f"prompt_{i}_mask.png") for i in (0, 1)]
    slots = [v for image, mask in prompts for v in (handle_file(image), None, handle_file(mask))] + [None] * 3
    gallery, legend, files, notes = client.predict(
        *slots, [handle_file(q) for q in QUERIES], "semantic", "feature", "stretch", api_name="/segment_images"
    )
    expected = _segment_cli(tmp_path / "cli", prompts, QUERIES, "semantic")
    by_name = {Path(f).name: Path(f) for f in files}
    assert [g["caption"] for g in gallery] == [q.name for q in QUERIES] and notes == ""
    for query in QUERIES:
        labels = _labels(by_name[f"{query.stem}.png"])
        np.testing.assert_array_equal(labels, _labels(expected / f"{query.stem}.png"))
        for class_id in (3, 4):  # the classes of the shapes prompts
            np.testing.assert_array_equal(_labels(by_name[f"{query.stem}_mask_{class_id}.png"]) > 0, labels == class_id)
        assert f"{query.stem}.json" in by_name
    assert "class 3" in legend and "class 4" in legend


def test_image_api_tuning_first_equals_seggpt_tune_then_segment(url: str, tmp_path: Path) -> None:
    client = Client(url, verbose=False)
    image, mask = EXAMPLES / "prompt_0.png", EXAMPLES / "prompt_0_mask.png"
    slots = [handle_file(image), None, handle_file(mask), *[None] * 6]
    _, legend, files, _ = client.predict(
        *slots, [handle_file(QUERIES[0])], "semantic", "feature", "stretch", 3, api_name="/segment_images"
    )
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/segment_images"]
    names = [p["parameter_name"] for p in api["parameters"]]  # named for gradio_client's keyword arguments
    assert names[:3] == ["prompt_1_image", "prompt_1_painted", "prompt_1_mask"]
    assert names[-2:] == ["resize", "tune_steps"]
    prompt = tmp_path / "prompt.safetensors"
    assert (
        main(["tune", "--prompt", str(image), str(mask), "--steps", "3", "--output", str(prompt), "--no-progress"]) == 0
    )
    assert main(["segment", "--tuned-prompt", str(prompt), "--input", str(QUERIES[0]), "--output", str(tmp_path)]) == 0
    page = next(Path(f) for f in files if Path(f).name == f"{QUERIES[0].stem}.png")
    np.testing.assert_array_equal(_labels(page), _labels(tmp_path / f"{QUERIES[0].stem}.png"))
    learned = next(Path(f) for f in files if Path(f).name == "tuned_prompt.safetensors")  # offered for download
    assert (
        main(["segment", "--tuned-prompt", str(learned), "--input", str(QUERIES[0]), "--output", str(tmp_path / "d")])
        == 0
    )
    np.testing.assert_array_equal(_labels(tmp_path / "d" / f"{QUERIES[0].stem}.png"), _labels(page))
    assert "class 3" in legend  # the example's own id, as with the example in context


def test_bad_upload_is_one_line_in_the_page(url: str) -> None:
    client = Client(url, verbose=False)
    image = handle_file(EXAMPLES / "prompt_0.png")
    with pytest.raises(Exception, match=r"prompt 1 has no mask: paint the objects") as err:
        client.predict(
            image, None, None, *[None] * 6, [image], "instance", "feature", "stretch", api_name="/segment_images"
        )
    assert "Traceback" not in str(err.value)


def _write_frames(folder: Path, count: int = 4) -> tuple[list[Path], Path]:
    """Frames of a bright square moving on noise, and the first frame's indexed mask (one object)."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    frames = []
    for t in range(count):
        rgb = rng.integers(0, 60, (48, 64, 3), dtype=np.uint8)
        rgb[12:30, 8 + 3 * t : 26 + 3 * t] = (230, 60, 40)
        frames.append(folder / f"{t:05d}.png")
        Image.fromarray(rgb).save(frames[-1])
    mask = np.zeros((48, 64), np.uint8)
    mask[12:30, 8:26] = 1
    mask_image = Image.fromarray(mask, mode="P")
    mask_image.putpalette([0, 0, 0, 200, 0, 0] + [0] * 762)
    mask_image.save(folder.parent / "first_mask.png")
    return frames, folder.parent / "first_mask.png"


@pytest.mark.parametrize(("memory", "keep_first"), [(3, True), (1, False)])
def test_video_api_equals_seggpt_video(url: str, tmp_path: Path, memory: int, keep_first: bool) -> None:
    frames, mask = _write_frames(tmp_path / "frames")
    client = Client(url, verbose=False)
    overlay, archive, notes = client.predict(
        [handle_file(f) for f in frames], None, handle_file(mask), memory, keep_first, api_name="/segment_video"
    )
    keep = [] if keep_first else ["--no-keep-first"]
    assert main(["video", "--input", str(tmp_path / "frames"), "--first-mask", str(mask), "--memory", str(memory),
                 *keep, "--output", str(tmp_path / "cli"), "--device", "cpu"]) == 0  # fmt: skip
    with zipfile.ZipFile(archive) as zipped:
        assert sorted(n for n in zipped.namelist() if n.endswith(".png")) == [f.name for f in frames]
        for frame in frames:
            with zipped.open(frame.name) as png:
                np.testing.assert_array_equal(_labels(png), _labels(tmp_path / "cli" / frame.name))
    with av.open(overlay["video"] if isinstance(overlay, dict) else overlay) as container:
        assert sum(1 for _ in container.decode(video=0)) == len(frames)
    assert "4 frames, objects 1" in notes
    api = client.view_api(return_format="dict", print_info=False)["named_endpoints"]["/segment_video"]
    names = [p["parameter_name"] for p in api["parameters"]]
    assert names == ["video", "first_frame_painted", "first_mask", "memory", "keep_first"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium of the system (Debian's `chromium`), driven by Playwright."""
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (apt-get install chromium; .ci/run installs it when it can)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


def _new_page(browser: Any, url: str) -> Any:
    """The app in a fresh page (downloads accepted)."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.goto(url)
    return page


def _open_page(browser: Any, url: str, prompt: Path, queries: list[Path]) -> Any:
    """A page with the prompt image and the queries uploaded."""
    page = _new_page(browser, url)
    page.locator("#prompt-1-image input[type=file]").set_input_files(prompt)
    page.locator("#queries input[type=file]").set_input_files(queries)
    return page


def _segment_and_download(page: Any, stem: str, path: Path, progress: str | None = None) -> None:
    """Click Segment (and see `progress`, a regular expression, on the page while it runs), wait for the overlays,
    download `<stem>.png` (the label map) to `path`."""
    page.locator("#segment-images").click()
    if progress is not None:
        page.get_by_text(re.compile(progress)).first.wait_for(timeout=60_000)
    page.locator("#overlays img").first.wait_for(timeout=120_000)
    with page.expect_download() as download:
        page.locator(f'#image-files a[download="{stem}.png"]').click()
    download.value.save_as(path)


def test_browser_uploads_segments_and_downloads(url: str, browser: Any, tmp_path: Path) -> None:
    prompt, mask, queries = EXAMPLES / "prompt_0.png", EXAMPLES / "prompt_0_mask.png", QUERIES[:2]
    expected = _segment_cli(tmp_path / "cli", [(prompt, mask)], list(queries), "semantic")
    page = _open_page(browser, url, prompt, list(queries))
    page.get_by_role("tab", name="Upload a mask").first.click()
    page.locator("#prompt-1-mask input[type=file]").set_input_files(mask)
    page.get_by_label("semantic").check()
    _segment_and_download(page, queries[0].stem, tmp_path / "downloaded.png")
    assert page.locator("#overlays img").count() == len(queries)
    assert page.locator("#legend").inner_text().split() == ["class", "3", "class", "4"]
    page.wait_for_timeout(500)  # let the gallery's images finish painting before the screenshot
    shot = Path(os.environ.get("SEGGPT_APP_SCREENSHOT", tmp_path / "app.png"))
    page.screenshot(path=str(shot), full_page=True)
    page.close()
    np.testing.assert_array_equal(_labels(tmp_path / "downloaded.png"), _labels(expected / f"{queries[0].stem}.png"))
    assert Image.open(shot).size[0] == 1400


def test_browser_painted_mask(url: str, browser: Any, tmp_path: Path) -> None:
    """A stroke of the second brush (green) on the prompt is class 2, shown in green."""
    page = _open_page(browser, url, EXAMPLES / "prompt_0.png", QUERIES[:1])
    painter = page.locator("#prompt-1-painter")
    painter.locator("canvas").first.wait_for()
    painter.get_by_role("button", name="Color").first.click()  # the brush colour picker
    painter.locator("menu.swatch button.color").nth(1).click()  # the second brush: green
    box = painter.locator("canvas").first.bounding_box()
    x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 30, y + 10, steps=10)
    page.mouse.up()
    _segment_and_download(page, QUERIES[0].stem, tmp_path / "painted.png")
    assert "class 2" in page.locator("#legend").inner_html() and "#00c800" in page.locator("#legend").inner_html()
    page.close()
    assert set(np.unique(_labels(tmp_path / "painted.png")).tolist()) <= {0, 2}


def test_browser_example_is_the_quick_start(url: str, browser: Any, tmp_path: Path) -> None:
    """The first example under the prompts fills the README's Quick start (nuclei, two prompts, four queries,
    instance); segmenting it in the page gives the labels `seggpt segment` gives."""
    nuclei = EXAMPLES_ROOT / "nuclei"
    prompts = [(nuclei / f"prompt_{i}.png", nuclei / f"prompt_{i}_mask.png") for i in (0, 1)]
    queries = sorted((nuclei / "queries").glob("*.png"))
    expected = _segment_cli(tmp_path / "cli", prompts, queries, "instance")
    page = _new_page(browser, url)
    page.get_by_text("nuclei (microscopy").first.click()
    page.locator("#queries").get_by_text("query_3", exact=True).first.wait_for()  # the last query is in
    _segment_and_download(page, "query_1", tmp_path / "downloaded.png")
    assert page.locator("#overlays img").count() == len(queries)
    page.close()
    np.testing.assert_array_equal(_labels(tmp_path / "downloaded.png"), _labels(expected / "query_1.png"))


def test_browser_tune_first_on_the_quick_start(url: str, browser: Any, tmp_path: Path) -> None:
    """The Quick start example with "Tune first" at 10 steps: the page's labels are those of `seggpt tune --prompt`
    (10 steps) then `seggpt segment --tuned-prompt` on the same files."""
    nuclei = EXAMPLES_ROOT / "nuclei"
    flags = [
        a for i in (0, 1) for a in ("--prompt", str(nuclei / f"prompt_{i}.png"), str(nuclei / f"prompt_{i}_mask.png"))
    ]
    prompt = tmp_path / "prompt.safetensors"
    assert main(["tune", *flags, "--steps", "10", "--output", str(prompt), "--no-progress"]) == 0
    query = nuclei / "queries" / "query_1.png"
    assert main(["segment", "--tuned-prompt", str(prompt), "--input", str(query), "--output", str(tmp_path)]) == 0
    page = _new_page(browser, url)
    page.get_by_text("nuclei (microscopy").first.click()
    page.locator("#queries").get_by_text("query_3", exact=True).first.wait_for()
    steps = page.locator("#tune-steps input[type=number]")
    steps.fill("10")
    steps.press("Enter")
    _segment_and_download(page, "query_1", tmp_path / "downloaded.png", progress=r"\d+/10 steps")  # tuning's bar
    page.close()
    np.testing.assert_array_equal(_labels(tmp_path / "downloaded.png"), _labels(tmp_path / "query_1.png"))


def test_browser_video_uploads_segments_and_downloads(url: str, browser: Any, tmp_path: Path) -> None:
    """The video tab in a real browser: frames and the first-frame mask uploaded, a frames-done counter while it
    runs, and the zipped PNGs equal to `seggpt video`'s on the same files (the page's defaults: K = 8, first kept)."""
    frames, mask = _write_frames(tmp_path / "frames", count=12)
    argv = ["video", "--input", str(tmp_path / "frames"), "--first-mask", str(mask), "--output", str(tmp_path / "cli")]
    assert main([*argv, "--device", "cpu"]) == 0
    page = _new_page(browser, url)
    page.get_by_role("tab", name="Video").click()
    page.locator("#video-input input[type=file]").set_input_files(frames)
    page.get_by_role("tab", name="Upload the first-frame mask").click()
    page.locator("#video-first-mask input[type=file]").set_input_files(mask)
    page.locator("#segment-video").click()
    page.get_by_text(re.compile(r"\d+/12 frames")).first.wait_for(timeout=60_000)  # the progress bar
    link = page.locator("#video-archive a[download]").first
    link.wait_for(timeout=120_000)
    with page.expect_download() as download:
        link.click()
    download.value.save_as(tmp_path / "page.zip")
    assert "12 frames, objects 1" in page.locator("#video-notes").inner_text()
    page.close()
    with zipfile.ZipFile(tmp_path / "page.zip") as zipped:
        assert sorted(n for n in zipped.namelist() if n.endswith(".png")) == [f.name for f in frames]
        for frame in frames:
            with zipped.open(frame.name) as png:
                np.testing.assert_array_equal(_labels(png), _labels(tmp_path / "cli" / frame.name))


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--port", "0"], "--port must be at least 1"),
        (["--port", "70000"], "--port must be at most 65535"),  # was an OverflowError traceback from bind()
        (["--concurrency", "0"], "--concurrency must be at least 1"),
        (["--max-side", "0"], "--max-side must be positive"),
        (["--max-tune-steps", "-1"], "--max-tune-steps must be >= 0"),
        (["--device", "cuda:7"] if not torch.cuda.is_available() else ["--max-frames", "0"], "--"),
    ],
)
def test_app_command_bad_flags(argv: list[str], words: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("seggpt app: error: ") and words in err and "\n" not in err


def test_app_command_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["app", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip()
    assert f"--port {port}: cannot listen there" in err and "\n" not in err


def test_app_command_without_gradio(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "gradio" else real(name, *a))
    assert main(["app"]) == 2
    assert "install the app extra" in capsys.readouterr().err
