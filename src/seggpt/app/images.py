"""The image tab's work, without Gradio: prompt uploads and query files -> overlays, a legend and result files.

`segment_images` is what the page's Segment button runs; it reads and checks the uploads (`uploads.py`), runs a
`seggpt.Segmenter`, and writes the same files as `seggpt segment` with the library's writers.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from seggpt import Prediction, SegGPT, Segmenter
from seggpt.app.uploads import (
    BRUSH_COLOURS,
    Limits,
    ProgressCallback,
    display_name,
    painted_labels,
    read_image,
    read_mask,
)
from seggpt.inference import (
    Ensemble,
    Precision,
    Resize,
    encode_prompt_masks,
    output_paths,
    save_tuned_prompt,
    write_outputs,
)
from seggpt.model import SegType
from seggpt.tuning import TuneConfig, prompt_dataset, tune_prompt

DOWNLOADS = ["label", "mask", "rle"]  # output formats offered for download: label PNG, binary masks, COCO RLE
TUNED_PROMPT_FILE = "tuned_prompt.safetensors"  # the prompt learned when the page tunes first, offered too


@dataclass(frozen=True)
class PromptUpload:
    """One prompt slot of the page: an image file and its mask, uploaded as a file or painted.

    Attributes:
        image: path of the uploaded prompt image, or None for an unused slot.
        mask_file: path of an uploaded mask file (any form `seggpt segment` takes); it wins over painting.
        painted: the mask painter's layers, (h, w, 4) uint8 RGBA each (brush k = class k + 1); may be empty.
    """

    image: str | Path | None
    mask_file: str | Path | None = None
    painted: Sequence[NDArray[np.uint8]] = ()

    @property
    def is_empty(self) -> bool:
        return self.image is None and self.mask_file is None and not any(np.asarray(p).any() for p in self.painted)


@dataclass(frozen=True)
class ImageOptions:
    """The page's options, as `Segmenter` takes them; `tune_steps` > 0 first learns a prompt from the examples
    (`seggpt tune --prompt`, the model frozen) and segments with it instead of the examples."""

    seg_type: SegType = "instance"
    ensemble: Ensemble = "feature"
    resize: Resize = "stretch"
    tune_steps: int = 0


@dataclass(frozen=True)
class QueryResult:
    """One segmented query: its name, (H, W, 3) uint8 overlay, prediction, and the files written for it."""

    name: str
    overlay: NDArray[np.uint8]
    prediction: Prediction
    files: list[Path]


@dataclass(frozen=True)
class ImageResult:
    """What the page shows: one result per query, the class colours, notes (e.g. downscaled images), and the
    prompt learned when the page tuned first (a `seggpt tune` file, for `seggpt segment --tuned-prompt`)."""

    queries: list[QueryResult]
    class_ids: NDArray[np.int64]
    colours: NDArray[np.uint8]
    notes: list[str]
    tuned_prompt: Path | None = None


def read_prompts(
    prompts: Sequence[PromptUpload], limits: Limits
) -> tuple[list[NDArray[np.uint8]], list[NDArray[Any]], bool, list[str]]:
    """Read and check the used prompt slots.

    Returns:
        images: (H, W, 3) uint8 per prompt (downscaled to `limits.max_side`).
        masks: per prompt, the mask as `Segmenter.set_prompts` takes it, at its image's size.
        all_painted: every mask was painted (then the brush colours are the class colours).
        notes: what was downscaled.

    Raises:
        ValueError: no prompt, a prompt without image or mask, a bad file, an empty or mismatched mask, too many
            classes.
    """
    used = [(i + 1, p) for i, p in enumerate(prompts) if not p.is_empty]
    if not used:
        raise ValueError("no prompt: upload a prompt image, then paint its mask or upload a mask file")
    images, masks, names, notes, painted = [], [], [], [], []
    for number, prompt in used:
        what = f"prompt {number}"
        if prompt.image is None:
            raise ValueError(f"{what} has a mask but no image; upload the image the mask belongs to")
        image, full_size, note = read_image(prompt.image, limits, f"{what} image")
        notes.extend([note] if note else [])
        if prompt.mask_file is not None:
            masks.append(read_mask(prompt.mask_file, full_size, limits, f"{what} mask"))
            names.append(f"{what} mask {display_name(prompt.mask_file)}")
            painted.append(False)
        elif any(np.asarray(layer).any() for layer in prompt.painted):
            masks.append(painted_labels(prompt.painted, image.shape[:2]))
            names.append(f"{what} painted mask")
            painted.append(True)
        else:
            raise ValueError(f"{what} has no mask: paint the objects on the image or upload a mask file")
        images.append(image)
    targets = encode_prompt_masks(masks, names=names, image_sizes=[im.shape[:2] for im in images])
    if len(targets.class_ids) > limits.max_classes:
        raise ValueError(
            f"the prompt masks hold {len(targets.class_ids)} classes; this server segments at most "
            f"{limits.max_classes} (--max-classes): merge classes or use fewer"
        )
    return images, masks, all(painted), notes


def unique_stems(paths: Sequence[str | Path]) -> list[str]:
    """File stems made unique by a suffix (_2, _3 ...), so that two queries never write the same file."""
    seen: dict[str, int] = {}
    stems = []
    for path in paths:
        stem = Path(path).stem
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


def write_results(out_dir: Path, source: Path, prediction: Prediction) -> list[Path]:
    """The files of `seggpt segment --format label,mask,rle` for one query (named after `source`'s stem)."""
    write_outputs(out_dir, source, prediction, DOWNLOADS)
    return output_paths(out_dir, source.stem, DOWNLOADS, prediction.class_ids)


def segment_images(
    model: SegGPT,
    prompts: Sequence[PromptUpload],
    queries: Sequence[str | Path],
    options: ImageOptions,
    limits: Limits,
    out_dir: Path,
    dtype: Precision | str = "auto",
    on_query: ProgressCallback | None = None,
) -> ImageResult:
    """Segment the query files like the prompts; write label PNGs, binary masks and COCO RLE JSON to `out_dir`.

    Args:
        model: a loaded SegGPT (shared between requests; a fresh `Segmenter` holds this request's prompts).
        prompts: the page's prompt slots (unused slots are skipped).
        queries: paths of the uploaded query images.
        options: type token, ensemble, resize mode and tuning steps.
        limits: the server's limits.
        out_dir: an empty folder for this request's files.
        dtype: precision, as `Segmenter` takes it: "auto" (default: bf16 where the hardware runs it fast, else
            fp32), "fp32", "bf16", "fp16" (GPU) or "int8" (CPU).
        on_query: called with (queries done, total) before each batch of the segmenter and at the end.

    Returns:
        ImageResult with one QueryResult per query, in upload order.

    Raises:
        ValueError: any bad upload, with a one-line message naming it.
    """
    if not queries:
        raise ValueError("no query image: upload one or more images to segment")
    if len(queries) > limits.max_queries:
        raise ValueError(
            f"{len(queries)} query images; this server segments at most {limits.max_queries} per request "
            "(--max-queries)"
        )
    if not 0 <= options.tune_steps <= limits.max_tune_steps:
        raise ValueError(
            f"{options.tune_steps} tuning steps; this server tunes 0 to {limits.max_tune_steps} (--max-tune-steps)"
        )
    images, masks, all_painted, notes = read_prompts(prompts, limits)
    query_images = []
    for j, path in enumerate(queries):
        image, _, note = read_image(path, limits, f"query {j + 1}")
        query_images.append(image)
        notes.extend([note] if note else [])
    segmenter = Segmenter(
        model, seg_type=options.seg_type, ensemble=options.ensemble, resize=options.resize, dtype=dtype
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    tuned_file = None
    if options.tune_steps:
        precision = dtype if dtype in ("fp32", "bf16") else "auto"  # tuning needs gradients: no int8 or fp16
        config = TuneConfig(steps=options.tune_steps, precision=precision)  # type: ignore[arg-type]
        tuned = tune_prompt(model, prompt_dataset(list(zip(images, masks))), config)
        tuned_file = save_tuned_prompt(tuned, out_dir / TUNED_PROMPT_FILE)
        segmenter.set_tuned_prompt(tuned)
    else:
        segmenter.set_prompts(images, masks)
    colours = segmenter.colours
    if all_painted:  # show each class in the colour of the brush that painted it
        colours = np.concatenate([colours[:1], BRUSH_COLOURS[segmenter.class_ids - 1]])
    predictions: list[Prediction] = []
    for start in range(0, len(query_images), segmenter.batch_size):  # the segmenter's own batches, counted
        if on_query is not None:
            on_query(start, len(query_images))
        predictions += segmenter.segment(query_images[start : start + segmenter.batch_size])
    results: list[QueryResult] = []
    for path, stem, prediction in zip(queries, unique_stems(queries), predictions):
        if all_painted:  # a Prediction of the same answer, drawn in the brush colours
            p = prediction
            prediction = Prediction(p.labels, p.colour, p.confidence, p.class_ids, colours, p.query_image)
        files = write_results(out_dir, Path(stem + Path(path).suffix), prediction)
        results.append(QueryResult(display_name(path), prediction.overlay(), prediction, files))
    if on_query is not None:
        on_query(len(results), len(queries))
    return ImageResult(results, segmenter.class_ids, colours, notes, tuned_file)


def legend_html(class_ids: NDArray[np.int64], colours: NDArray[np.uint8]) -> str:
    """A row of colour swatches, one per class id (row k of `colours` is class_ids[k - 1])."""
    items = []
    for class_id, colour in zip(class_ids.tolist(), colours[1:].tolist()):
        hex_colour = "#{:02x}{:02x}{:02x}".format(*colour)
        items.append(
            f'<span class="seggpt-class"><span style="display:inline-block;width:1em;height:1em;'
            f'background:{hex_colour};border:1px solid #888;vertical-align:middle"></span> '
            f"class {html.escape(str(class_id))}</span>"
        )
    return '<div class="seggpt-legend">' + " &nbsp; ".join(items) + "</div>"
