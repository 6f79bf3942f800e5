"""Video outputs, written to a temporary place and moved into place only when the whole video succeeded.

`VIDEO_OUTPUTS` is the registry of what a segmented video can be written as (`seggpt video` and the web app's
video tab both write through it): `frames`, one indexed PNG per frame (pixel = object id) in a DAVIS-format
results folder, with the frames' COCO RLE in `masks_rle.json` when asked; `overlay`, a video of the frames
blended with their objects' colours. Adding a format is one writer class (a context manager with
`add(frame, labels)`) and one `VideoOutput` line there.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol

import av
import numpy as np
from numpy.typing import NDArray
from PIL import Image

from seggpt.atomic import make_temp
from seggpt.inference.palette import blend
from seggpt.inference.writers import mask_to_rle

if TYPE_CHECKING:
    from seggpt.inference.video_io import Frame


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
        """The files an earlier run wrote into `output` (its manifest); refuses foreign PNGs.

        Only names this writer gives its files count (`<frame>.png`, `masks_rle.json`, no folder part): a
        damaged or hand-made manifest never makes a later run remove anything else.
        """
        if not self.output.is_dir():
            return set()
        manifest = self.output / self.MANIFEST
        try:
            listed = set(json.loads(manifest.read_text())["files"]) if manifest.is_file() else set()
        except (OSError, ValueError, KeyError, TypeError):
            listed = set()
        listed = {
            name
            for name in listed
            if isinstance(name, str)
            and name == Path(name).name
            and "\x00" not in name
            and (name.endswith(".png") or name == "masks_rle.json")
        }
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

    def add(self, frame: Frame, labels: NDArray[np.integer]) -> None:
        """Write the labels of `frame` (named after it); the `FrameSink` method."""
        self.write(frame.name, labels)

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

    def add(self, frame: Frame, labels: NDArray[np.integer]) -> None:
        """Add `frame` blended with its labels; the `FrameSink` method."""
        self.write(frame.rgb, labels)

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


class FrameSink(Protocol):
    """An open video output: takes each frame with its (H, W) object ids, in order."""

    def add(self, frame: Frame, labels: NDArray[np.integer]) -> None: ...


@dataclass(frozen=True)
class VideoStyle:
    """What every video output may need besides its path: frames per second, the (256, 3) uint8 object colours,
    and whether the frames folder also holds `masks_rle.json`."""

    fps: float
    palette: NDArray[np.uint8]
    rle: bool = False


@dataclass(frozen=True)
class VideoOutput:
    """One video output format.

    Attributes:
        help: what it writes, for command-line help.
        paths: (its path, the frame names) -> every file it may write, for checks before any work.
        open: (its path, style) -> a context manager giving a `FrameSink`; nothing reaches the path unless the
            context exits without an exception.
    """

    help: str
    paths: Callable[[Path, Sequence[str]], list[Path]]
    open: Callable[[Path, VideoStyle], AbstractContextManager[FrameSink]]


VIDEO_OUTPUTS: dict[str, VideoOutput] = {
    "frames": VideoOutput(
        "DIR/<frame>.png, one indexed PNG per frame named after the input frames (pixel = object id, the first "
        "mask's palette), and DIR/masks_rle.json (COCO RLE per frame and object) when asked",
        lambda out, names: [out / f"{name}.png" for name in names] + [out / "masks_rle.json"],
        lambda out, style: ResultWriter(out, style.palette, rle=style.rle),
    ),
    "overlay": VideoOutput(
        "FILE.mp4, the frames blended with their objects' colours",
        lambda path, names: [path],
        lambda path, style: OverlayWriter(path, style.fps, style.palette),
    ),
}
