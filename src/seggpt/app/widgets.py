"""What both tabs of the page use: one-line errors, per-request folders, progress trackers and the mask painter."""

from __future__ import annotations

import functools
import html
import inspect
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr
import numpy as np

from seggpt.app.uploads import BRUSH_COLOURS, ProgressCallback

KEEP_RESULTS_S = 3600  # a request's files are deleted this long after it
PROGRESS = gr.Progress()  # Gradio passes each call its own tracker in place of a parameter with this default
TUNING_PROGRESS = gr.Progress(track_tqdm=True)  # the same for a call whose progress is a tqdm bar (tuning)
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Turn a `ValueError` (a bad upload) into a `gr.Error`: one line in the page, no stack trace."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ValueError, FileNotFoundError) as err:
            raise gr.Error(html.escape(" ".join(str(err).split())), print_exception=False) from None

    return wrapper  # type: ignore[return-value]


def with_progress(
    fn: Callable[[list[Any], gr.Progress], Any], names: list[str], progress: gr.Progress
) -> Callable[..., Any]:
    """`fn(values, progress)` as an event function of one input per name that Gradio gives a progress tracker.

    Gradio looks for a `gr.Progress` default only among named positional parameters, before any `*args`: a
    `run(*values, progress=...)` never got a tracker (the image tab's tuning showed no progress). The event
    function therefore declares the `names` (which the API page and `gradio_client` show) and then `progress`."""

    def event(*args: Any) -> Any:
        *values, tracker = args
        return fn(values, tracker)

    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    params = [inspect.Parameter(name, kind) for name in names] + [inspect.Parameter("progress", kind, default=progress)]
    event.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return event


def counter(progress: gr.Progress, unit: str) -> ProgressCallback:
    """A `ProgressCallback` that moves the page's progress bar: (done, total) `unit` segmented."""

    def on_progress(done: int, total: int | None) -> None:
        progress((done, total), desc="segmenting", unit=unit)

    return on_progress


def request_folder(root: Path) -> Path:
    """A fresh folder for one request's files; folders of requests older than KEEP_RESULTS_S are deleted."""
    root.mkdir(parents=True, exist_ok=True)
    for old in root.iterdir():
        if old.is_dir() and time.time() - old.stat().st_mtime > KEEP_RESULTS_S:
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=root, prefix="request-"))


def painted_layers(editor: dict[str, Any] | None) -> list[np.ndarray]:
    """The painted layers of an ImageEditor value (none when nothing was painted)."""
    return [layer for layer in (editor or {}).get("layers") or [] if layer is not None]


def _brush() -> gr.Brush:
    colours = ["#{:02x}{:02x}{:02x}".format(*c) for c in BRUSH_COLOURS.tolist()]
    return gr.Brush(colors=colours, default_color=colours[0], color_mode="fixed")  # type: ignore[arg-type]


def mask_painter(label: str, elem_id: str) -> gr.ImageEditor:
    return gr.ImageEditor(
        label=label,
        elem_id=elem_id,
        type="numpy",
        format="png",
        sources=(),
        transforms=(),
        brush=_brush(),
        eraser=gr.Eraser(),
        layers=False,
        height=320,
    )
