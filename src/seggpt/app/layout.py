"""The Gradio page of `seggpt app`: an image tab and a video tab over one shared model.

The handlers only translate between Gradio values and the pure functions of `images.py` and `videos.py`;
every `ValueError` those raise (a bad upload) becomes a `gr.Error`: a one-line message in the page.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from seggpt import SegGPT
from seggpt.app.images import ImageOptions, PromptUpload, legend_html, segment_images
from seggpt.app.uploads import BRUSH_NAMES, Limits
from seggpt.app.videos import first_frame, segment_video
from seggpt.app.widgets import (
    KEEP_RESULTS_S,
    PROGRESS,
    TUNING_PROGRESS,
    counter,
    mask_painter,
    painted_layers,
    request_folder,
    user_errors,
    with_progress,
)

PROMPT_SLOTS = 3  # prompt image + mask pairs on the page; the first is open, the others folded
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"  # present in a source checkout
EXAMPLE_SETS = (  # folder under EXAMPLES (prompt_<i>.png + prompt_<i>_mask.png, queries/), type, label
    ("nuclei", "instance", "nuclei (microscopy, the README's Quick start): two prompts, four queries"),
    ("shapes", "semantic", "shapes: two prompts with label maps, four queries (semantic)"),
)
INTRO = """# SegGPT: segment everything in context
Show the model an example image with its mask (paint it with the brush, one colour per class, or upload a mask
file); it segments the same kind of thing in the query images. The example under the prompts fills everything in
one click."""
VIDEO_INTRO = """Upload a short video (or its frames), then paint the objects on its first frame (one colour per
object) or upload the first frame's mask; the model follows them through the video (first frame + the last K
predicted frames as prompts)."""


def _prompt_slot(number: int) -> tuple[gr.Image, gr.ImageEditor, gr.File]:
    """One prompt: the image, and its mask painted over it or uploaded as a file."""
    image = gr.Image(
        label=f"Prompt {number} image",
        type="filepath",
        image_mode=None,  # the file as uploaded: read by the library like `seggpt segment` reads it
        sources=["upload", "clipboard"],
        height=220,
        elem_id=f"prompt-{number}-image",
    )
    with gr.Tab("Paint the mask"):
        painter = mask_painter(
            f"Prompt {number} mask: " + ", ".join(f"{n} = class {k + 1}" for k, n in enumerate(BRUSH_NAMES)),
            f"prompt-{number}-painter",
        )
    with gr.Tab("Upload a mask"):
        mask = gr.File(
            label=f"Prompt {number} mask file (binary, label map or colour target)",
            file_types=["image"],
            elem_id=f"prompt-{number}-mask",
        )
    image.change(lambda path: path, inputs=image, outputs=painter, queue=False, api_visibility="private")
    return image, painter, mask


def _example_row(folder: Path, seg_type: str) -> list[Any]:
    """One example's inputs: its two prompts' image and mask files in slot order, its queries, the type."""
    prompts = [str(folder / f"prompt_{i}{suffix}.png") for i in (0, 1) for suffix in ("", "_mask")]
    return [*prompts, sorted(str(p) for p in (folder / "queries").glob("*.png")), seg_type]


def _image_tab(model: SegGPT, limits: Limits, dtype: str, work_dir: Path) -> None:
    slots = []
    with gr.Row():
        with gr.Column(scale=1) as left:
            slots.append(_prompt_slot(1))
            with gr.Accordion("More prompts (feature ensemble)", open=False):
                slots.extend(_prompt_slot(n) for n in range(2, PROMPT_SLOTS + 1))
        with gr.Column(scale=1):
            queries = gr.File(
                label="Query images (one or more)", file_count="multiple", file_types=["image"], elem_id="queries"
            )
            with gr.Row():
                seg_type = gr.Radio(["instance", "semantic"], value="instance", label="Type")
                ensemble = gr.Radio(["feature", "spatial", "none"], value="feature", label="Ensemble")
                resize = gr.Radio(["stretch", "pad"], value="stretch", label="Resize")
            tune = gr.Slider(
                0,
                max(limits.max_tune_steps, 1),
                value=0,
                step=10,
                label="Tune first: steps (0 = the examples in context; 50-300 learn a prompt from them, for better "
                "answers: about 1.2 s a step with the default model on 2 CPU cores)",
                visible=limits.max_tune_steps > 0,
                elem_id="tune-steps",
            )
            button = gr.Button("Segment", variant="primary", elem_id="segment-images")
            gallery = gr.Gallery(label="Overlays", columns=2, height="auto", format="png", elem_id="overlays")
            legend = gr.HTML(elem_id="legend")
            notes = gr.Markdown(elem_id="image-notes")
            files = gr.File(
                label="Downloads: label PNG, binary masks, COCO RLE JSON (and the tuned prompt, when tuned first)",
                file_count="multiple",
                elem_id="image-files",
            )
    examples = [(EXAMPLES / name, seg, label) for name, seg, label in EXAMPLE_SETS if (EXAMPLES / name).is_dir()]
    if examples:
        with left:  # under the prompts, once every input it fills exists
            gr.Examples(
                [_example_row(folder, seg) for folder, seg, _ in examples],
                inputs=[slots[0][0], slots[0][2], slots[1][0], slots[1][2], queries, seg_type],
                label="Examples (click to fill the prompts and queries)",
                example_labels=[label for _, _, label in examples],
            )

    @user_errors
    def run(values: list[Any], progress: gr.Progress) -> tuple[list[Any], str, list[str], str]:
        *slot_values, query_files, seg, ens, fit, steps = values  # tuning's tqdm bar shows through `progress` too
        prompts = [
            PromptUpload(image, mask, painted_layers(editor))
            for image, editor, mask in zip(slot_values[0::3], slot_values[1::3], slot_values[2::3])
        ]
        result = segment_images(
            model,
            prompts,
            query_files or [],
            ImageOptions(seg, ens, fit, int(steps)),
            limits,
            request_folder(work_dir),
            dtype,
            counter(progress, "queries"),
        )
        overlays = [(q.overlay, q.name) for q in result.queries]
        downloads = [str(f) for q in result.queries for f in q.files]
        if result.tuned_prompt is not None:  # the learned prompt, for `seggpt segment --tuned-prompt`
            downloads.append(str(result.tuned_prompt))
        text = "\n".join(f"- {n}" for n in result.notes)
        return overlays, legend_html(result.class_ids, result.colours), downloads, text

    inputs = [c for slot in slots for c in slot] + [queries, seg_type, ensemble, resize, tune]
    names = [f"prompt_{n}_{part}" for n in range(1, PROMPT_SLOTS + 1) for part in ("image", "painted", "mask")]
    event = with_progress(run, [*names, "queries", "seg_type", "ensemble", "resize", "tune_steps"], TUNING_PROGRESS)
    button.click(event, inputs=inputs, outputs=[gallery, legend, files, notes], api_name="segment_images")


def _video_tab(model: SegGPT, limits: Limits, dtype: str, work_dir: Path) -> None:
    gr.Markdown(VIDEO_INTRO)
    with gr.Row():
        with gr.Column(scale=1):
            video = gr.File(
                label=f"A video file, or its frames as images (at most {limits.max_frames} frames are segmented)",
                file_count="multiple",
                file_types=["video", "image"],
                elem_id="video-input",
            )
            with gr.Tab("Paint the first frame's objects"):
                painter = mask_painter(
                    "First frame: " + ", ".join(f"{n} = object {k + 1}" for k, n in enumerate(BRUSH_NAMES)),
                    "video-painter",
                )
            with gr.Tab("Upload the first-frame mask"):
                mask = gr.File(
                    label="First-frame mask (indexed PNG of object ids, or white on black)",
                    file_types=["image"],
                    elem_id="video-first-mask",
                )
            memory = gr.Slider(1, 16, value=8, step=1, label="Memory K (recent frames kept as prompts)")
            keep_first = gr.Checkbox(
                value=True, label="Keep the first frame as a prompt (off: faster on a CPU, somewhat less accurate)"
            )
            button = gr.Button("Segment video", variant="primary", elem_id="segment-video")
        with gr.Column(scale=1):
            overlay = gr.Video(label="Overlay", elem_id="video-overlay")
            archive = gr.File(
                label="Results: one indexed PNG per frame (DAVIS format), zipped", elem_id="video-archive"
            )
            notes = gr.Markdown(elem_id="video-notes")

    @user_errors
    def show_first_frame(paths: list[str] | None) -> np.ndarray | None:
        return first_frame(paths, limits, request_folder(work_dir)) if paths else None

    @user_errors
    def run(  # the parameter names are /segment_video's in the API (gradio_client keywords)
        video: list[str] | None,
        first_frame_painted: dict | None,
        first_mask: str | None,
        memory: float,
        keep_first: bool,
        progress: gr.Progress = PROGRESS,
    ) -> tuple[str, str, str]:
        layers, folder = painted_layers(first_frame_painted), request_folder(work_dir)
        on_frame = counter(progress, "frames")
        result = segment_video(
            model, video or [], first_mask, layers, int(memory), limits, folder, on_frame, dtype, bool(keep_first)
        )
        ids = ", ".join(str(i) for i in result.object_ids.tolist())
        text = "\n".join([f"- {result.frames} frames, objects {ids}", *(f"- {n}" for n in result.notes)])
        return str(result.overlay), str(result.archive), text

    video.change(show_first_frame, inputs=video, outputs=painter, api_visibility="private")
    button.click(
        run,
        inputs=[video, painter, mask, memory, keep_first],
        outputs=[overlay, archive, notes],
        api_name="segment_video",
    )


def build_app(
    model: SegGPT, *, limits: Limits | None = None, dtype: str = "auto", work_dir: Path | None = None
) -> gr.Blocks:
    """The page: an Images tab and a Video tab, both served by `model`.

    Args:
        model: a loaded SegGPT, shared by all requests (queue it with `demo.queue(default_concurrency_limit=N)`).
        limits: upload and work limits; default `Limits()`.
        dtype: the precision of both tabs, a `seggpt.inference.PRECISIONS` name: "auto" (default: bf16 where
            the hardware runs it fast, else fp32), "fp32", "bf16", "fp16" (GPU) or "int8" (CPU).
        work_dir: where request files go (deleted an hour after each request); default a temporary folder.
    """
    limits = limits or Limits()
    work_dir = work_dir or Path(tempfile.mkdtemp(prefix="seggpt-app-"))
    with gr.Blocks(title="SegGPT", delete_cache=(KEEP_RESULTS_S, KEEP_RESULTS_S), analytics_enabled=False) as demo:
        gr.Markdown(INTRO)
        with gr.Tab("Images"):
            _image_tab(model, limits, dtype, work_dir / "images")
        with gr.Tab("Video"):
            _video_tab(model, limits, dtype, work_dir / "video")
    return demo


def launch(
    demo: gr.Blocks,
    *,
    host: str = "127.0.0.1",
    port: int = 7860,
    share: bool = False,
    concurrency: int = 1,
    max_queue: int = 64,
    max_upload_mb: float = 20.0,
    block: bool = True,
) -> str:
    """Queue the page's requests and serve it; returns its local URL.

    Args:
        demo: the page from `build_app`.
        host, port: where to listen (127.0.0.1: this machine only).
        share: also open a public gradio.live tunnel.
        concurrency: requests run at once on the shared model; the others wait in the queue.
        max_queue: waiting requests at most (more are refused with a message).
        max_upload_mb: the server refuses larger uploads before they reach the handlers.
        block: serve until interrupted (the command), or return at once with the server running (tests).
    """
    demo.queue(default_concurrency_limit=concurrency, max_size=max_queue)
    _, url, _ = demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        max_file_size=int(max_upload_mb * 1e6),
        allowed_paths=[str(EXAMPLES)] if EXAMPLES.is_dir() else None,
        prevent_thread_lock=not block,
        quiet=not block,
    )
    return url
