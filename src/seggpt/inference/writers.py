"""Writing predictions to disk: palette label PNGs, binary mask PNGs, overlays, COCO RLE JSON. All atomic.

`OUTPUTS` is the registry of image output formats that `seggpt segment` and the web app's image tab offer:
adding a format is one writer function and one `OutputFormat` line there. Video outputs have their own
registry next to it, `video_outputs.VIDEO_OUTPUTS`.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils
from numpy.typing import NDArray
from PIL import Image

from seggpt.atomic import atomic_write
from seggpt.inference.prediction import Prediction

PathLike = str | Path


def _save_image(image: Image.Image, path: Path) -> None:
    """Save with the format of the final name's extension (PNG by default)."""
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}
    image.save(path, format=fmt.get(path.suffix.lower(), "PNG"))


def write_label_png(path: PathLike, prediction: Prediction) -> Path:
    """Label map as an indexed-palette PNG: pixel value = the user's class id, palette = the class colours.

    Class ids above 255 cannot be palette indexes: then a 16-bit greyscale PNG holds the ids (no palette).

    Args:
        path: output file (.png).
        prediction: the Prediction to write.
    """
    labels = prediction.compact_labels()
    if labels.max(initial=0) > 255:
        if labels.max() > 65535:
            raise ValueError(f"class ids above 65535 cannot be written to a PNG, got {labels.max()}")
        image = Image.fromarray(labels.astype(np.uint16, copy=False))
    else:
        image = Image.fromarray(labels.astype(np.uint8, copy=False), mode="P")
        table = np.zeros((256, 3), dtype=np.uint8)
        table[prediction.class_ids[prediction.class_ids <= 255]] = prediction.colours[1:][prediction.class_ids <= 255]
        image.putpalette(table.reshape(-1).tolist())
    return atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def write_mask_png(path: PathLike, mask: NDArray[np.bool_]) -> Path:
    """(H, W) bool mask as an 8-bit greyscale PNG, 0 = background, 255 = foreground."""
    image = Image.fromarray(np.where(mask, 255, 0).astype(np.uint8), mode="L")
    return atomic_write(path, lambda tmp: image.save(tmp, format="PNG"))


def write_overlay(path: PathLike, overlay: NDArray[np.uint8]) -> Path:
    """(H, W, 3) uint8 RGB overlay image; the format follows the extension (PNG, JPEG, WebP, BMP)."""
    image = Image.fromarray(overlay)
    return atomic_write(path, lambda tmp: _save_image(image, tmp))


def mask_to_rle(mask: NDArray[np.bool_]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(H, W) bool mask -> (JSON-ready COCO RLE {"size": [H, W], "counts": str}, pycocotools' own RLE object)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}, rle


def prediction_to_rle(prediction: Prediction) -> list[dict]:
    """One COCO RLE record per predicted (non-empty) class: {class_id, segmentation{size, counts}, area, bbox}.

    `segmentation.counts` is the compressed RLE string of pycocotools; bbox is [x, y, w, h] in pixels.
    """
    records = []
    for class_id, mask in zip(prediction.class_ids.tolist(), prediction.masks):
        if not mask.any():
            continue
        segmentation, rle = mask_to_rle(mask)
        records.append(
            {
                "class_id": int(class_id),
                "segmentation": segmentation,
                "area": int(mask_utils.area(rle)),
                "bbox": [float(v) for v in mask_utils.toBbox(rle)],
            }
        )
    return records


def write_rle_json(path: PathLike, prediction: Prediction, file_name: str | None = None) -> Path:
    """COCO RLE JSON: {"file_name", "height", "width", "annotations": prediction_to_rle(prediction)}."""
    H, W = prediction.size
    data = {"file_name": file_name, "height": H, "width": W, "annotations": prediction_to_rle(prediction)}
    text = json.dumps(data)
    return atomic_write(path, lambda tmp: tmp.write_text(text))


@dataclass(frozen=True)
class OutputFormat:
    """One output format: the files it writes for an input, and how.

    Attributes:
        help: what it writes, for command-line help.
        paths: (output folder, input stem, class ids) -> the files, in write order.
        write: (output folder, input path, prediction); writes exactly `paths(...)`, each atomically.
    """

    help: str
    paths: Callable[[Path, str, NDArray[np.int64]], list[Path]]
    write: Callable[[Path, Path, Prediction], object]


def _write_masks(out_dir: Path, source: Path, prediction: Prediction) -> None:
    for class_id, mask in zip(prediction.class_ids.tolist(), prediction.masks):
        write_mask_png(out_dir / f"{source.stem}_mask_{class_id}.png", mask)


OUTPUTS: dict[str, OutputFormat] = {
    "label": OutputFormat(
        "STEM.png (palette PNG, pixel = class id)",
        lambda out, stem, ids: [out / f"{stem}.png"],
        lambda out, source, p: write_label_png(out / f"{source.stem}.png", p),
    ),
    "mask": OutputFormat(
        "STEM_mask_<id>.png (0/255)",
        lambda out, stem, ids: [out / f"{stem}_mask_{k}.png" for k in ids.tolist()],
        _write_masks,
    ),
    "overlay": OutputFormat(
        "STEM_overlay.png",
        lambda out, stem, ids: [out / f"{stem}_overlay.png"],
        lambda out, source, p: write_overlay(out / f"{source.stem}_overlay.png", p.overlay()),
    ),
    "rle": OutputFormat(
        "STEM.json (COCO RLE)",
        lambda out, stem, ids: [out / f"{stem}.json"],
        lambda out, source, p: write_rle_json(out / f"{source.stem}.json", p, file_name=source.name),
    ),
}


def formats_help(registry: Mapping[str, Any], intro: str, outro: str) -> str:
    """`intro`, then "name -> help" for each format of an output registry (`OUTPUTS`, `VIDEO_OUTPUTS`), then
    `outro`, wrapped at 100 columns: the list a command's `--help` shows."""
    listed = "; ".join(f"{name} -> {fmt.help}" for name, fmt in registry.items())
    return textwrap.fill(f"{intro}{listed}. {outro}", width=100)


def parse_formats(text: str) -> list[str]:
    """A comma-separated list of `OUTPUTS` names -> the names, in order; ValueError naming the unknown ones."""
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(OUTPUTS))
    if unknown or not formats:
        raise ValueError(
            f"--format {text!r}: unknown {unknown}; expected a comma-separated subset of {','.join(OUTPUTS)}"
        )
    return formats


def output_paths(out_dir: Path, stem: str, formats: Sequence[str], class_ids: NDArray[np.int64]) -> list[Path]:
    """Every file the formats write for one input, in write order."""
    return [path for fmt in formats for path in OUTPUTS[fmt].paths(out_dir, stem, class_ids)]


def write_outputs(out_dir: Path, source: Path, prediction: Prediction, formats: Sequence[str]) -> None:
    """Write the formats for one input (each file atomically)."""
    for fmt in formats:
        OUTPUTS[fmt].write(out_dir, source, prediction)
