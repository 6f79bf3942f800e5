"""Video inputs and outputs: frames streamed lazily from a video file or a folder, DAVIS-format results.

Inputs: a video file (PyAV), a folder of frames (sorted naturally), and the DAVIS
(`JPEGImages/<res>/<seq>` + `Annotations/<res>/<seq>/00000.png`) and YouTube-VOS
(`JPEGImages/<vid>/*.jpg` + `Annotations/<vid>/*.png`) layouts. Outputs: one indexed PNG per frame
(pixel = object id), an overlay video and an RLE JSON, written to a temporary place and moved into place
only when the whole video succeeded.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from seggpt.atomic import make_temp
from seggpt.data.io import is_single_object, load_mask, load_rgb, natural_key
from seggpt.inference.palette import blend
from seggpt.inference.writers import mask_to_rle

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".gif")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_FPS = 24.0  # DAVIS and YouTube-VOS frames were sampled from 24 / 30 fps videos; folders carry no rate


@dataclass(frozen=True)
class Frame:
    """One decoded frame: `name` (the file stem, or a 5-digit index for video files) and (H, W, 3) uint8 RGB."""

    name: str
    rgb: NDArray[np.uint8]


class FrameSource:
    """A video file or a folder of frames, read lazily one frame at a time; every frame must have one size.

    Attributes:
        path: the video file or folder.
        count: the number of frames, or None when the video file does not say.
        fps: frames per second (the file's rate; `DEFAULT_FPS` for folders).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._files: list[Path] | None = None
        if not self.path.exists():
            raise FileNotFoundError(f"video input not found: {self.path}")
        if self.path.is_dir():
            self._files = sorted(
                (p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES),
                key=lambda p: natural_key(p.name),
            )
            if not self._files:
                raise ValueError(f"the folder {self.path} holds no frames (expected {', '.join(IMAGE_SUFFIXES)})")
            self.count: int | None = len(self._files)
            self.fps = DEFAULT_FPS
        else:
            self.count, self.fps = _probe_video(self.path)

    @property
    def frames_folder(self) -> Path | None:
        """The folder of frames (None for a video file)."""
        return self.path if self._files is not None else None

    @property
    def files(self) -> list[Path]:
        """The frame files of a folder, in order (empty for a video file)."""
        return list(self._files or [])

    @property
    def frame_names(self) -> list[str]:
        """Every frame's name, as far as known before decoding (a video file that does not say its count: [])."""
        if self._files is not None:
            return [p.stem for p in self._files]
        return [f"{i:05d}" for i in range(self.count or 0)]

    @property
    def first_name(self) -> str:
        """The first frame's name (its file stem, or 00000 for a video file)."""
        return self._files[0].stem if self._files else "00000"

    def __iter__(self) -> Iterator[Frame]:
        frames = self._iter_folder() if self._files is not None else self._iter_video()
        size: tuple[int, ...] | None = None
        count = 0
        for frame in frames:
            if size is None:
                size = frame.rgb.shape[:2]
            elif frame.rgb.shape[:2] != size:
                raise ValueError(
                    f"frame {frame.name} of {self.path} has size {frame.rgb.shape[:2]}, but the first frame has "
                    f"{size} (H, W): all frames of a video must have one size"
                )
            count += 1
            yield frame
        if count == 0:
            raise ValueError(f"the video {self.path} holds no frames")

    def _iter_folder(self) -> Iterator[Frame]:
        for file in self._files or []:
            yield Frame(file.stem, load_rgb(file))

    def _iter_video(self) -> Iterator[Frame]:
        try:
            with av.open(str(self.path)) as container:
                for index, frame in enumerate(container.decode(video=0)):
                    yield Frame(f"{index:05d}", np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8))
        except av.FFmpegError as err:
            raise ValueError(f"cannot decode the video {self.path} (corrupt or not a video): {err}") from err


def _probe_video(path: Path) -> tuple[int | None, float]:
    """(frame count or None, fps) of a video file; a clear error for anything PyAV cannot open."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise ValueError(f"{path} holds no video stream")
            stream = container.streams.video[0]
            rate = float(stream.average_rate) if stream.average_rate else DEFAULT_FPS
            return (stream.frames or None), rate
    except av.FFmpegError as err:
        raise ValueError(f"cannot open the video {path} (corrupt, empty or not a video): {err}") from err


def read_first_mask(path: str | Path) -> tuple[NDArray[np.int64], NDArray[np.uint8] | None]:
    """Read a first-frame mask as a label map of object ids.

    Indexed (P) PNGs give their indexes (DAVIS 2017, YouTube-VOS) and their palette. Grey masks with
    values {0, 255} (DAVIS 2016) are one object (id 1); other grey / 16-bit values are ids as stored.
    RGB masks are one object: foreground where the brightest channel is above 127 (the official
    white-on-black, anti-aliased targets).

    Returns:
        labels: (H, W) int64 object ids, 0 = background.
        palette: (256, 3) uint8 of a P-mode PNG, else None.
    """
    array = load_mask(path)
    png_palette = None
    with Image.open(path) as image:
        if image.mode == "P":
            raw = np.asarray(image.getpalette() or [], dtype=np.uint8).reshape(-1, 3)[:256]
            png_palette = np.zeros((256, 3), dtype=np.uint8)
            png_palette[: len(raw)] = raw
    if np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"first mask {path}: float images are not label maps; expected an indexed or grey PNG")
    if array.ndim == 3:
        return (array.max(axis=-1) > 127).astype(np.int64), None
    labels = array.astype(np.int64)
    if png_palette is None and is_single_object(labels):
        labels = (labels == 255).astype(np.int64)
    return labels, png_palette


def davis_palette() -> NDArray[np.uint8]:
    """(256, 3) uint8: the PASCAL VOC / DAVIS colour map (id 1 dark red, 2 green, 3 olive ...)."""
    colours = np.zeros((256, 3), dtype=np.uint8)
    for i in range(256):
        c, r, g, b = i, 0, 0, 0
        for bit in range(8):
            r |= ((c >> 0) & 1) << (7 - bit)
            g |= ((c >> 1) & 1) << (7 - bit)
            b |= ((c >> 2) & 1) << (7 - bit)
            c >>= 3
        colours[i] = (r, g, b)
    return colours


def check_indexed_ids(labels: NDArray[np.integer], source: str) -> None:
    """Indexed PNGs hold ids 0..255 only."""
    if labels.size and int(labels.max()) > 255:
        raise ValueError(f"{source} has object id {int(labels.max())}; indexed PNG results hold ids 0..255 only")


def encode_rle(labels: NDArray[np.integer]) -> dict[str, dict[str, Any]]:
    """(H, W) object ids -> {str(id): COCO RLE {"size": [H, W], "counts": str}} for every id > 0 present."""
    out = {}
    for obj in np.unique(labels[labels > 0]):
        out[str(int(obj))] = mask_to_rle(labels == obj)[0]
    return out


class ResultWriter:
    """DAVIS-format results, written into a temporary folder and moved to `output` only on success.

    Use as a context manager: on an exception nothing reaches `output`. Files already in `output` with
    other names are kept, ones with the same names are replaced, and the frames of an earlier run into the
    same folder (listed in its hidden `MANIFEST`) that this run did not write are removed, so no stale frame
    mixes with the new ones. PNG files that no seggpt run wrote there make the folder unusable (refused
    before any work), since they would mix with the results.

    Args:
        output: the results folder, e.g. `results/<seq>`.
        palette: (256, 3) uint8 palette of the indexed PNGs.
        rle: also collect every frame's objects as COCO RLE into `output/masks_rle.json`.

    Raises:
        ValueError: `output` is not a folder, or holds PNG files no seggpt run wrote.
    """

    MANIFEST = ".seggpt-results.json"

    def __init__(self, output: str | Path, palette: NDArray[np.uint8], *, rle: bool = False):
        self.output = Path(output)
        if self.output.exists() and not self.output.is_dir():
            raise ValueError(f"output {self.output} exists and is not a folder; expected a folder for the frames")
        self._previous = self._previous_files()
        self.palette = palette.astype(np.uint8).reshape(-1).tolist()
        self.rle: list[dict[str, Any]] | None = [] if rle else None
        self._tmp: Path | None = None

    def _previous_files(self) -> set[str]:
        """The files an earlier run wrote into `output` (its manifest); refuses foreign PNGs."""
        if not self.output.is_dir():
            return set()
        manifest = self.output / self.MANIFEST
        try:
            listed = set(json.loads(manifest.read_text())["files"]) if manifest.is_file() else set()
        except (OSError, ValueError, KeyError, TypeError):
            listed = set()
        foreign = sorted(p.name for p in self.output.glob("*.png") if p.name not in listed)
        if foreign:
            raise ValueError(
                f"output {self.output} already holds {len(foreign)} PNG files that seggpt did not write there "
                f"(e.g. {foreign[0]}); they would mix with the results: choose a new or empty folder"
            )
        return listed

    def __enter__(self) -> ResultWriter:
        self._tmp = make_temp(self.output, directory=True)
        return self

    def write(self, name: str, labels: NDArray[np.integer]) -> None:
        """Write `<name>.png`: (H, W) object ids 0..255 as an indexed PNG."""
        assert self._tmp is not None, "use ResultWriter as a context manager"
        check_indexed_ids(labels, f"the prediction for frame {name}")
        image = Image.fromarray(labels.astype(np.uint8), mode="P")
        image.putpalette(self.palette)
        image.save(self._tmp / f"{name}.png")
        if self.rle is not None:
            self.rle.append({"frame": name, "objects": encode_rle(labels)})

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tmp is not None
        try:
            if exc_type is None:
                if self.rle is not None:
                    (self._tmp / "masks_rle.json").write_text(json.dumps({"frames": self.rle}))
                written = sorted(p.name for p in self._tmp.iterdir())
                (self._tmp / self.MANIFEST).write_text(json.dumps({"files": written}))
                self._commit(self._tmp, set(written))
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def _commit(self, tmp: Path, written: set[str]) -> None:
        if self.output.is_dir() and not any(self.output.iterdir()):
            self.output.rmdir()
        if not self.output.exists():
            os.replace(tmp, self.output)  # the whole folder at once
            return
        for stale in sorted(self._previous - written):
            (self.output / stale).unlink(missing_ok=True)
        for file in sorted(tmp.iterdir()):
            os.replace(file, self.output / file.name)


def overlay(rgb: NDArray[np.uint8], labels: NDArray[np.integer], palette: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """(H, W, 3) frame with each object blended half-and-half with its palette colour."""
    return blend(rgb, palette[np.clip(labels, 0, len(palette) - 1)], labels > 0, 0.5)


def _video_codec() -> str:
    """h264 when this PyAV build can encode it, else mpeg4 (always built in)."""
    for name in ("libx264", "h264"):
        try:
            av.codec.Codec(name, "w")
            return name
        except (av.FFmpegError, ValueError):
            continue
    return "mpeg4"


class OverlayWriter:
    """An overlay video (frames blended with their objects' colours), written to a temporary file first.

    Use as a context manager: the file appears at `path` only when the whole video succeeded.

    Args:
        path: the video file to write (e.g. `overlay.mp4`).
        fps: frames per second.
        palette: (256, 3) uint8 object colours.
    """

    def __init__(self, path: str | Path, fps: float, palette: NDArray[np.uint8]):
        self.path = Path(path)
        self.fps = fps
        self.palette = palette
        self._tmp: Path | None = None
        self._container: Any = None
        self._stream: Any = None

    def __enter__(self) -> OverlayWriter:
        self._tmp = make_temp(self.path)
        try:
            self._container = av.open(str(self._tmp), mode="w")
        except (av.FFmpegError, ValueError) as err:
            os.remove(self._tmp)
            raise ValueError(f"cannot write a video to {self.path} (unknown container suffix?): {err}") from err
        return self

    def write(self, rgb: NDArray[np.uint8], labels: NDArray[np.integer]) -> None:
        """Add one frame: (H, W, 3) uint8 RGB and its (H, W) object ids."""
        image = overlay(rgb, labels, self.palette)
        H, W = image.shape[:2]
        image = np.pad(image, ((0, H % 2), (0, W % 2), (0, 0)))  # yuv420p needs even sides
        if self._stream is None:
            self._stream = self._container.add_stream(_video_codec(), rate=round(self.fps))
            self._stream.width, self._stream.height = image.shape[1], image.shape[0]
            self._stream.pix_fmt = "yuv420p"
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._tmp is not None
        try:
            if self._stream is not None:
                for packet in self._stream.encode():
                    self._container.mux(packet)
            self._container.close()
            if exc_type is None:
                os.replace(self._tmp, self.path)
        finally:
            if self._tmp.exists():
                os.remove(self._tmp)
