"""Video inputs: frames streamed lazily from a video file or a folder, and the first frame's mask.

Inputs: a video file (PyAV), a folder of frames (sorted naturally), and the DAVIS
(`JPEGImages/<res>/<seq>` + `Annotations/<res>/<seq>/00000.png`) and YouTube-VOS
(`JPEGImages/<vid>/*.jpg` + `Annotations/<vid>/*.png`) layouts. The outputs (indexed PNGs per frame, an
overlay video, RLE JSON) are `video_outputs.VIDEO_OUTPUTS`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from seggpt.data.davis import find_first_annotation
from seggpt.data.io import is_single_object, load_mask, load_rgb, natural_key
from seggpt.inference.video_outputs import check_indexed_ids

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
            stems: dict[str, Path] = {}
            for file in self._files:  # frames are named by stem: two files of one stem would be one result
                if file.stem in stems:
                    raise ValueError(
                        f"the frames {stems[file.stem].name} and {file.name} of {self.path} have one name "
                        f"({file.stem!r}), so their results would overwrite each other (results of an earlier run "
                        "written into the frames folder?); keep one file per frame"
                    )
                stems[file.stem] = file
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


@dataclass(frozen=True)
class FirstMask:
    """The prompt of a video: (H, W) int64 object ids (0 = background), the (256, 3) uint8 palette of the
    results, and what to call the mask in messages (e.g. "first mask path/00000.png")."""

    labels: NDArray[np.int64]
    palette: NDArray[np.uint8]
    name: str

    def check_size(self, size: tuple[int, ...], what: str) -> None:
        """Raise unless the mask has `size` (H, W); `what` ends the message, e.g. "the first frame a.jpg has"."""
        if tuple(size) != self.labels.shape:
            raise ValueError(f"{self.name} has size {self.labels.shape}, but {what} {tuple(size)} (H, W)")


def load_first_mask(path: str | Path) -> FirstMask:
    """Read a first-frame mask file (`read_first_mask`) and check it: ids 0..255, at least one object.

    The palette is the PNG's own (indexed PNGs), else DAVIS's.

    Raises:
        ValueError: unreadable, ids above 255, or no object.
    """
    name = f"first mask {path}"
    labels, png_palette = read_first_mask(path)
    check_indexed_ids(labels, name)
    if not labels.any():
        raise ValueError(f"{name} holds no object (every pixel is 0)")
    return FirstMask(labels, png_palette if png_palette is not None else davis_palette(), name)


def default_first_mask(source: FrameSource) -> Path:
    """The DAVIS / YouTube-VOS annotation of a frames folder's first frame.

    Raises:
        ValueError: `source` is a video file or has no such annotation.
    """
    folder = source.frames_folder
    mask = find_first_annotation(folder, source.first_name) if folder is not None else None
    if mask is None:
        raise ValueError(
            f"no --first-mask given and no DAVIS / YouTube-VOS annotation found for {source.path} "
            "(expected .../JPEGImages/<seq>/ beside .../Annotations/<seq>/<first frame>.png)"
        )
    return mask
