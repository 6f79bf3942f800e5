"""Pack the default model's training data (CamVid train, DAVIS 2016 train at 240p) into a small copy.

    python scripts/pack_training_data.py ../shared/data runs/default_data

The copy keeps the dataset layouts (`camvid/train` + `trainannot`, `davis2016/JPEGImages/240p`, `Annotations/240p`,
`ImageSets/train_240p.txt`), with every image downscaled so its longer side is at most `--max-side` pixels
(bicubic, JPEG quality `--quality`; label maps nearest, PNG) and every `--davis-step`-th DAVIS frame (neighbouring
frames are near duplicates): the model sees 224x224 crops, and the copy is small enough (about 30 MB) to travel to a
GPU machine with the pretrained encoder. Deterministic for a given Pillow.
`PACKED.json` in the output records the settings; `scripts/train_default_model.sh` packs only when it is absent.
Validation data (CamVid val, the DAVIS val sequences) is never copied.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from PIL import Image

MARKER = "PACKED.json"


def shrink(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    """(W, H) scaled so the longer side is at most `max_side` (never enlarged)."""
    scale = min(1.0, max_side / max(size))
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def copy_pair(image: Path, mask: Path, out_image: Path, out_mask: Path, max_side: int, quality: int) -> None:
    """One image (JPEG) and its label map (PNG, same mode and palette), downscaled alike."""
    out_image.parent.mkdir(parents=True, exist_ok=True)
    out_mask.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(image) as img, Image.open(mask) as labels:
        if img.size != labels.size:
            raise ValueError(f"{image} is {img.size} but its mask {mask} is {labels.size}")
        size = shrink(img.size, max_side)
        img.convert("RGB").resize(size, Image.Resampling.BICUBIC).save(out_image, quality=quality)
        labels.resize(size, Image.Resampling.NEAREST).save(out_mask)


def pack(data: Path, output: Path, max_side: int, quality: int, davis_step: int) -> int:
    """Write the packed copy; returns the number of image/label pairs."""
    count = 0
    camvid = data / "camvid"
    for image in sorted((camvid / "train").glob("*.jpg")):
        mask = camvid / "trainannot" / f"{image.stem}.png"
        if mask.is_file():
            out = output / "camvid"
            copy_pair(image, mask, out / "train" / image.name, out / "trainannot" / mask.name, max_side, quality)
            count += 1
    davis = data / "davis2016"
    names = (davis / "ImageSets" / "train_240p.txt").read_text().split()
    for name in names:
        for frame in sorted((davis / "JPEGImages" / "240p" / name).glob("*.jpg"))[::davis_step]:
            mask = davis / "Annotations" / "240p" / name / f"{frame.stem}.png"
            if mask.is_file():
                out = output / "davis2016"
                out_frame = out / "JPEGImages" / "240p" / name / frame.name
                copy_pair(frame, mask, out_frame, out / "Annotations" / "240p" / name / mask.name, max_side, quality)
                count += 1
    (output / "davis2016" / "ImageSets").mkdir(parents=True, exist_ok=True)
    (output / "davis2016" / "ImageSets" / "train_240p.txt").write_text("\n".join(names) + "\n")
    settings = {"max_side": max_side, "quality": quality, "davis_step": davis_step, "pairs": count}
    (output / MARKER).write_text(json.dumps(settings, indent=1) + "\n")
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="folder holding camvid/ and davis2016/ (e.g. ../shared/data)")
    parser.add_argument("output", type=Path, help="new folder for the packed copy")
    parser.add_argument("--max-side", type=int, default=320, help="longer side of every image, pixels (default 320)")
    parser.add_argument("--quality", type=int, default=85, help="JPEG quality (default 85)")
    parser.add_argument("--davis-step", type=int, default=2, help="keep every n-th DAVIS frame (default 2)")
    args = parser.parse_args()
    for need in (args.data / "camvid" / "train", args.data / "davis2016" / "ImageSets" / "train_240p.txt"):
        if not need.exists():
            print(f"error: {need} does not exist (expected CamVid and DAVIS 2016 under {args.data})", file=sys.stderr)
            return 2
    if args.output.exists() and any(args.output.iterdir()):
        print(f"error: {args.output} exists and is not empty; give a new folder", file=sys.stderr)
        return 2
    count = pack(args.data, args.output, args.max_side, args.quality, args.davis_step)
    print(f"packed {count} image/label pairs into {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
