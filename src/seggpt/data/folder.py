"""Generic folders: images and PNG label maps matched by file name (the layout of any custom dataset)."""

from __future__ import annotations

from pathlib import Path

from seggpt.data.sources import SemanticFolder, existing_dir, paired_files


def semantic_folder(image_dir: str | Path, mask_dir: str | Path, **kwargs: object) -> SemanticFolder:
    """Generic images/ + masks/ folders (raw 0 = background, 255 = ignore unless overridden)."""
    kwargs.setdefault("ignore_values", (255,))
    return SemanticFolder(paired_files(Path(image_dir), Path(mask_dir)), **kwargs)  # type: ignore[arg-type]


def label_map_pairs(image_dir: str | Path, label_dir: str | Path) -> list[tuple[Path, Path]]:
    """(image, label PNG) pairs with equal stems, sorted; every image must have its label map."""
    image_dir, label_dir = existing_dir(image_dir, "image folder"), existing_dir(label_dir, "label folder")
    images = sorted(p for p in image_dir.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    pairs = [(image, label_dir / f"{image.stem}.png") for image in images]
    missing = [str(label) for _, label in pairs if not label.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images of {image_dir} have no label map, e.g. {missing[0]}")
    if not pairs:
        raise FileNotFoundError(f"no images (.jpg, .jpeg, .png) in {image_dir}")
    return pairs
