"""YouTube-VOS: ``<split>/JPEGImages/<video>`` + ``<split>/Annotations/<video>`` (palette PNGs of object ids)."""

from __future__ import annotations

from pathlib import Path

from seggpt.data.sources import VideoObjects, video_sequences


def youtube_vos(root: str | Path, split: str = "train") -> VideoObjects:
    """YouTube-VOS: <split>/JPEGImages/<video> + <split>/Annotations/<video> (palette PNGs, object ids)."""
    base = Path(root) / split
    frame_root = base / "JPEGImages"
    if not frame_root.is_dir():
        raise FileNotFoundError(f"YouTube-VOS frames folder {frame_root} does not exist")
    names = sorted(p.name for p in frame_root.iterdir() if p.is_dir())
    return VideoObjects(video_sequences(frame_root, base / "Annotations", names), name=f"ytvos-{split}")
