"""ADE20K-150 (ADEChallengeData2016): `images/<split>` + `annotations/<split>`; 0 = ignore, 1..150 classes."""

from __future__ import annotations

from pathlib import Path

from seggpt.data.sources import ClassLayout, SemanticFolder, paired_files


def ade20k(root: str | Path, split: str = "training") -> SemanticFolder:
    """ADE20K-150 (ADEChallengeData2016): images/<split> + annotations/<split>; 0 = ignore, 1..150 classes."""
    root = Path(root)
    files = paired_files(root / "images" / split, root / "annotations" / split)
    return SemanticFolder(files, ignore_values=(0,), name=f"ade20k-{split}")


ADE20K = ClassLayout(
    ade20k, "training", tuple(range(1, 151)), tuple(f"class {i}" for i in range(1, 151)), background=False
)
