"""DAVIS 2016 / 2017: ``JPEGImages/<resolution>/<seq>/<frame>.jpg`` + ``Annotations/<resolution>/<seq>/<frame>.png``.

DAVIS 2016 masks hold 0 and 255 for the one object (`seggpt.data.io.is_single_object`); DAVIS 2017 masks
are indexed PNGs of object ids, 255 = void. Training pairs (`davis`), evaluation sequences
(`davis_sequences`) and the video CLI's first mask (`find_first_annotation`) all read the layout here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from seggpt.data.io import is_single_object, load_label_map, load_mask
from seggpt.data.sources import VideoObjects, existing_dir, video_sequences


def davis(root: str | Path, resolution: str = "480p", sequences: str | list[str] = "train") -> VideoObjects:
    """DAVIS 2016/2017: JPEGImages/<res>/<seq> + Annotations/<res>/<seq>.

    `sequences` is a list of names or a split name read from ImageSets (`<split>_<res>.txt`, `<split>.txt`,
    or `<year>/<split>.txt`); "all" takes every sequence folder.
    """
    root = Path(root)
    frame_root, mask_root = root / "JPEGImages" / resolution, root / "Annotations" / resolution
    if not frame_root.is_dir():
        raise FileNotFoundError(f"DAVIS frames folder {frame_root} does not exist")
    if isinstance(sequences, list):
        names = sequences
    elif sequences == "all":
        names = sorted(p.name for p in frame_root.iterdir() if p.is_dir())
    else:
        sets = root / "ImageSets"
        by_year = sorted(sets.glob(f"*/{sequences}.txt"))
        names = _read_imageset([sets / f"{sequences}_{resolution}.txt", sets / f"{sequences}.txt", *by_year])
    return VideoObjects(video_sequences(frame_root, mask_root, names), name=f"davis-{resolution}")


@dataclass(frozen=True)
class DavisSequence:
    """One DAVIS sequence: its frames and annotations in order.

    ``year`` 2016: any non-zero annotation value is the one object (id 1). ``year`` 2017: values are object
    ids, 255 = void.
    """

    name: str
    frames: list[Path]
    annotations: list[Path]
    year: int


def davis_sequences(
    root: str | Path,
    resolution: str = "480p",
    sequences: list[str] | None = None,
    imageset: str | None = None,
    year: int | None = None,
) -> list[DavisSequence]:
    """The sequences of a DAVIS 2016/2017 layout.

    Args:
        root: the DAVIS folder (with ``JPEGImages``, ``Annotations``, ``ImageSets``).
        resolution: "480p", "240p", "Full-Resolution", ... (the sub-folder name).
        sequences: names to use; default the ``imageset``'s, else every annotated sequence.
        imageset: a list file (path, or a name under ``ImageSets``: ``val``, ``2017/val``, ``val_dev_480p``);
            one sequence a line or DAVIS 2016's ``/JPEGImages/480p/<seq>/00000.jpg ...`` lines.
        year: 2016 or 2017 mask encoding; default guessed per sequence (a first mask of only 0 and 255 is 2016).
    """
    root = existing_dir(root, "DAVIS root")
    annotation_root = existing_dir(root / "Annotations" / resolution, "DAVIS annotation folder")
    if sequences is None and imageset is not None:
        sets = root / "ImageSets"
        sequences = _read_imageset([Path(imageset), sets / imageset, sets / f"{imageset}.txt"])
    if sequences is None:
        sequences = sorted(p.name for p in annotation_root.iterdir() if p.is_dir())
    out = []
    for name in sequences:
        frames = sorted((root / "JPEGImages" / resolution / name).glob("*.jpg"))
        annotations = sorted((annotation_root / name).glob("*.png"))
        if not frames or not annotations:
            raise FileNotFoundError(f"DAVIS sequence {name!r}: no frames or annotations under {root} at {resolution}")
        if year is None:
            seq_year = 2016 if is_single_object(np.asarray(load_mask(annotations[0]))) else 2017
        elif year in (2016, 2017):
            seq_year = year
        else:
            raise ValueError(f"DAVIS year must be 2016 or 2017, got {year}")
        out.append(DavisSequence(name, frames, annotations, seq_year))
    return out


def read_davis_annotation(path: Path, year: int) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """(H, W) int64 object ids and (H, W) bool void pixels of one annotation PNG (see ``DavisSequence``)."""
    mask = load_label_map(path)
    if year == 2016:
        return (mask > 0).astype(np.int64), np.zeros(mask.shape, dtype=bool)
    return np.where(mask == 255, 0, mask), mask == 255


def read_result_labels(path: Path, year: int) -> NDArray[np.int64]:
    """(H, W) int64 object ids of one results PNG (indexed or grey); for 2016 any non-zero value is object 1."""
    if not path.is_file():
        raise FileNotFoundError(f"results frame {path} is missing")
    mask = load_label_map(path)
    return (mask > 0).astype(np.int64) if year == 2016 else mask


def _read_imageset(candidates: list[Path]) -> list[str]:
    """Sequence names of the first existing DAVIS split list: one name a line, or DAVIS 2016's
    ``/JPEGImages/480p/<seq>/00000.jpg ...`` lines (the sequence folder's name), in order, once each."""
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise FileNotFoundError(f"no DAVIS split list found (tried {', '.join(map(str, candidates))})")
    names: list[str] = []
    for line in path.read_text().split("\n"):
        if line.strip():
            first = line.split()[0]
            name = Path(first).parent.name if "/" in first else first
            if name not in names:
                names.append(name)
    return names


def find_first_annotation(frames_folder: Path, first_frame_name: str) -> Path | None:
    """The first frame's mask in a DAVIS or YouTube-VOS layout: `JPEGImages` -> `Annotations`, `<name>.png`."""
    parts = frames_folder.resolve().parts
    if "JPEGImages" not in parts:
        return None
    i = len(parts) - 1 - parts[::-1].index("JPEGImages")
    candidate = Path(*parts[:i], "Annotations", *parts[i + 1 :], f"{first_frame_name}.png")
    return candidate if candidate.is_file() else None
