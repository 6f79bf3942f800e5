"""The video tab's work, without Gradio: an uploaded video (or frames) and a first-frame mask -> overlay video + zip.

Frames are read by `seggpt.inference.FrameSource`, segmented by `seggpt.VideoSegmenter`, and written by
`seggpt.inference.run_video` to the `frames` and `overlay` outputs of `VIDEO_OUTPUTS`, as `seggpt video` does.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from seggpt import SegGPT, VideoSegmenter
from seggpt.app.uploads import (
    BRUSH_COLOURS,
    Limits,
    ProgressCallback,
    check_same_size,
    check_upload,
    display_name,
    downscale_mask,
    fit_size,
    painted_labels,
)
from seggpt.inference import (
    IMAGE_SUFFIXES,
    FirstMask,
    Frame,
    FrameSource,
    Precision,
    check_indexed_ids,
    davis_palette,
    read_first_mask,
    resize_image,
    run_video,
)


@dataclass(frozen=True)
class VideoResult:
    """What the page shows: the overlay video, a zip of DAVIS-format PNGs, the object ids, and notes."""

    overlay: Path
    archive: Path
    object_ids: NDArray[np.int64]
    palette: NDArray[np.uint8]
    frames: int
    notes: list[str]


def open_video(paths: Sequence[str | Path], limits: Limits, work_dir: Path) -> FrameSource:
    """An uploaded video file, or two or more uploaded frame images (ordered by name), as a FrameSource.

    Raises:
        ValueError: nothing uploaded, one lone image, a mix of videos and images, too large, not a video.
    """
    if not paths:
        raise ValueError("no video: upload a video file or its frames as images")
    files = [check_upload(p, limits, "video") for p in paths]
    images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
    if len(files) == 1 and not images:
        try:
            return FrameSource(files[0])
        except ValueError:
            raise ValueError(
                f"video {display_name(files[0])}: cannot open it (corrupt, empty or not a video); expected a video "
                "file such as MP4, WebM, MOV or AVI"
            ) from None
    if len(images) != len(files):
        raise ValueError("the video upload mixes video files and other files; expected one video or its frames")
    if len(images) == 1:
        raise ValueError(f"{display_name(images[0])} is one image, not a video; upload a video file or its frames")
    folder = work_dir / "frames"
    folder.mkdir(parents=True, exist_ok=True)
    for image in images:
        target = folder / display_name(image)
        if target.exists():
            raise ValueError(f"two frames are named {target.name}; expected one file per frame")
        target.symlink_to(image.resolve())
    return FrameSource(folder)


def first_frame(paths: Sequence[str | Path], limits: Limits, work_dir: Path) -> NDArray[np.uint8]:
    """(H, W, 3) uint8 first frame of the upload, at full size (the mask painter's background)."""
    return next(iter(open_video(paths, limits, work_dir))).rgb


def first_mask_labels(
    mask_file: str | Path | None,
    painted: Sequence[NDArray[np.uint8]],
    frame_size: tuple[int, int],
    limits: Limits,
) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
    """The first frame's object ids from an uploaded mask (wins) or the painter (brush k = object k + 1).

    Returns:
        labels: (H, W) int64 object ids at the frame's size, 0 = background.
        palette: (256, 3) uint8 object colours: the mask PNG's own palette, the brush colours, or DAVIS's.

    Raises:
        ValueError: no mask, an unreadable or empty mask, a size mismatch, too many objects.
    """
    palette = davis_palette()
    if mask_file is not None:
        path = check_upload(mask_file, limits, "first-frame mask")
        try:
            labels, png_palette = read_first_mask(path)
        except ValueError:
            raise ValueError(
                f"first-frame mask: {display_name(path)} is not a label map; expected an indexed or grey PNG"
            ) from None
        check_same_size(labels.shape, frame_size, f"first-frame mask {display_name(path)}")
        check_indexed_ids(labels, f"first-frame mask {display_name(path)}")
        palette = png_palette if png_palette is not None else palette
    elif any(np.asarray(layer).any() for layer in painted):
        labels = painted_labels(painted, frame_size)
        palette[1 : 1 + len(BRUSH_COLOURS)] = BRUSH_COLOURS
    else:
        raise ValueError("no first-frame mask: paint the objects on the first frame or upload a mask file")
    objects = np.unique(labels[labels > 0])
    if objects.size == 0:
        raise ValueError("the first-frame mask is empty (every pixel is background); mark at least one object")
    if objects.size > limits.max_classes:
        raise ValueError(
            f"the first-frame mask holds {objects.size} objects; this server follows at most {limits.max_classes} "
            "(--max-classes)"
        )
    return labels, palette


def segment_video(
    model: SegGPT,
    video: Sequence[str | Path],
    mask_file: str | Path | None,
    painted: Sequence[NDArray[np.uint8]],
    memory: int,
    limits: Limits,
    out_dir: Path,
    on_frame: ProgressCallback | None = None,
    dtype: Precision | str = "auto",
    keep_first: bool = True,
) -> VideoResult:
    """Segment the first frame's objects through the video.

    Args:
        model: a loaded SegGPT (shared between requests).
        video: one video file, or two or more frame images.
        mask_file: an uploaded first-frame mask (label map of object ids, white on black = one object), or None.
        painted: the mask painter's RGBA layers over the first frame (used when no mask file is given).
        memory: K, recent predicted frames kept as prompts (`VideoSegmenter(memory=K)`).
        limits: the server's limits (frames are cut at `max_frames`, downscaled to `max_side`).
        out_dir: an empty folder for this request's files.
        on_frame: called after each frame with (frames done, total or None).
        dtype: precision of the model, as `VideoSegmenter` takes it ("auto" by default).
        keep_first: keep the first frame as a prompt throughout (the paper); False lets it leave the memory
            (with K = 1, about twice as fast on a CPU and somewhat less accurate: README, Benchmarks).

    Returns:
        VideoResult: `out_dir/<name>_overlay.mp4` and `out_dir/<name>_davis.zip` (one indexed PNG per frame).

    Raises:
        ValueError: any bad upload (not a video, corrupt, bad mask), with a one-line message.
    """
    if not 1 <= memory <= 64:
        raise ValueError(f"memory K must be between 1 and 64, got {memory}")
    source = open_video(video, limits, out_dir / "input")
    frames = iter(source)
    first = next(frames)
    full_size = (int(first.rgb.shape[0]), int(first.rgb.shape[1]))
    labels, palette = first_mask_labels(mask_file, painted, full_size, limits)
    size = fit_size(full_size, limits.max_side)
    notes = []
    if size != full_size:
        notes.append(
            f"frames were downscaled from {full_size[1]}x{full_size[0]} to {size[1]}x{size[0]} "
            f"(--max-side {limits.max_side})"
        )
    total = min(source.count, limits.max_frames) if source.count else None
    stem = Path(display_name(video[0])).stem if len(video) == 1 else "frames"

    def stream() -> Iterator[Frame]:
        try:
            for frame in itertools.islice(itertools.chain([first], frames), limits.max_frames):
                yield Frame(frame.name, resize_image(frame.rgb, size))
        except ValueError as err:  # a corrupt frame in the middle, or frames of different sizes
            raise ValueError(f"video {stem}: {str(err).replace(str(source.path), 'the upload')}") from None

    overlay_path, results_dir = out_dir / f"{stem}_overlay.mp4", out_dir / f"{stem}_davis"
    counts = run_video(
        VideoSegmenter(model, memory=memory, keep_first=keep_first, dtype=dtype),
        stream(),
        FirstMask(downscale_mask(labels, size), palette, "the first-frame mask"),
        {"frames": results_dir, "overlay": overlay_path},
        fps=source.fps,
        video_name=f"video {stem}",
        on_frame=None if on_frame is None else lambda done: on_frame(done, total),
    )
    if next(frames, None) is not None:
        notes.append(f"the video was cut after {limits.max_frames} frames (--max-frames)")
    archive = Path(shutil.make_archive(str(results_dir), "zip", results_dir))
    shutil.rmtree(results_dir)
    object_ids = np.unique(labels[labels > 0]).astype(np.int64)
    return VideoResult(overlay_path, archive, object_ids, palette, counts.frames, notes)
