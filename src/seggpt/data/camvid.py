"""CamVid as split by SegNet: `<split>/` images with `<split>annot/` label maps; 0..10 classes, 11 = void."""

from __future__ import annotations

from pathlib import Path

from seggpt.data.sources import ClassLayout, SemanticFolder, paired_files

CAMVID_CLASSES = ("Sky", "Building", "Pole", "Road", "Pavement", "Tree", "SignSymbol", "Fence", "Car", "Pedestrian",
                  "Bicyclist")  # fmt: skip


def camvid(root: str | Path, split: str = "train") -> SemanticFolder:
    """CamVid (SegNet split): `<split>/` + `<split>annot/`; raw 0..10 are classes (-> 1..11), 11 = void."""
    root = Path(root)
    files = paired_files(root / split, root / f"{split}annot")
    return SemanticFolder(files, offset=1, ignore_values=(11,), name=f"camvid-{split}")


CAMVID = ClassLayout(camvid, "train", tuple(range(11)), CAMVID_CLASSES, background=False)  # no background class
