"""Cityscapes: `leftImg8bit/<split>` + `gtFine/<split>` train-id label maps (0..18 classes, 255 ignore)."""

from __future__ import annotations

from pathlib import Path

from seggpt.data.sources import SemanticFolder, paired_files


def cityscapes(root: str | Path, split: str = "train") -> SemanticFolder:
    """Cityscapes: leftImg8bit/<split> + gtFine/<split> `*_gtFine_labelTrainIds.png` (trainId 0..18 -> 1..19)."""
    root = Path(root)

    def mask_name(image: Path) -> str:
        rel = image.relative_to(root / "leftImg8bit" / split).as_posix()
        return rel.replace("_leftImg8bit.png", "_gtFine_labelTrainIds")

    files = paired_files(root / "leftImg8bit" / split, root / "gtFine" / split, mask_name)
    return SemanticFolder(files, offset=1, ignore_values=(255,), name=f"cityscapes-{split}")
