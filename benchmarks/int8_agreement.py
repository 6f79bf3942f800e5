"""How often int8 (dynamically quantised Linear layers) decodes the same label as fp32, and how fast it is.

Segments each query twice with the same prompts, `dtype="fp32"` and `dtype="int8"`, and counts the decoded
query pixels (at the query's own size) whose labels are equal. Sets: the repository's example scenes
(examples/shapes: two prompts, four queries) and, given `--camvid`, CamVid val images with four training
images as prompts (chosen as `seggpt eval semantic` chooses them). int8 runs as shipped (the first encoder
block in fp32, `precision.INT8_FP32_BLOCKS`) unless `--fp32-blocks` says otherwise (0: every Linear in int8).

    python benchmarks/int8_agreement.py                                        # the embedded default model
    python benchmarks/int8_agreement.py --camvid ../shared/data/camvid --limit 101 --json out.json
    python benchmarks/int8_agreement.py --model seggpt_vit_large.pth --camvid ../shared/data/camvid --limit 10
    python benchmarks/int8_agreement.py --camvid ../shared/data/camvid --fp32-blocks 0   # every block in int8
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seggpt import Segmenter, load_model
from seggpt.data.folder import label_map_pairs
from seggpt.data.io import load_label_map, load_mask, load_rgb
from seggpt.evaluation.semantic import PROMPT_IGNORE, choose_prompts, to_prompt_labels
from seggpt.inference import precision

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "shapes"
CAMVID_CLASSES, CAMVID_IGNORE = 11, 11


def shapes_set() -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any], list[np.ndarray]]:
    """(prompt images, prompt masks, set_prompts options, queries) of examples/shapes."""
    images = [load_rgb(EXAMPLES / f"prompt_{i}.png") for i in range(2)]
    masks = [load_mask(EXAMPLES / f"prompt_{i}_mask.png") for i in range(2)]
    queries = [load_rgb(p) for p in sorted((EXAMPLES / "queries").glob("*.png"))]
    return images, masks, {}, queries


def camvid_set(root: Path, limit: int) -> tuple[list[np.ndarray], list[np.ndarray], dict[str, Any], list[np.ndarray]]:
    """Four CamVid training images as prompts (class c -> c + 1, void ignored) and the first `limit` val images."""
    train = label_map_pairs(root / "train", root / "trainannot")
    chosen = choose_prompts([p[1] for p in train], 4, CAMVID_CLASSES, CAMVID_IGNORE)
    images = [load_rgb(train[i][0]) for i in chosen]
    masks = [to_prompt_labels(load_label_map(train[i][1]), CAMVID_IGNORE) for i in chosen]
    queries = [load_rgb(p) for p, _ in label_map_pairs(root / "val", root / "valannot")[:limit]]
    return images, masks, {"ignore_value": PROMPT_IGNORE, "mask_type": "labels"}, queries


def agreement(model: torch.nn.Module, data: tuple, batch_size: int) -> dict[str, float]:
    """Equal decoded pixels of fp32 and int8 over all queries, and seconds per query of each."""
    images, masks, options, queries = data
    labels, seconds = {}, {}
    for dtype in ("fp32", "int8"):
        segmenter = Segmenter(model, seg_type="semantic", dtype=dtype, batch_size=batch_size)
        segmenter.set_prompts(images, masks, **options)
        segmenter.segment(queries[:1])  # warm-up
        start = time.perf_counter()
        labels[dtype] = [p.labels for p in segmenter.segment(queries)]
        seconds[dtype] = (time.perf_counter() - start) / len(queries)
    equal = sum(int((a == b).sum()) for a, b in zip(labels["fp32"], labels["int8"]))
    total = sum(a.size for a in labels["fp32"])
    return {"queries": len(queries), "pixels": total, "agreement": equal / total,
            "fp32_s_per_query": seconds["fp32"], "int8_s_per_query": seconds["int8"],
            "int8_speedup": seconds["fp32"] / seconds["int8"]}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="seggpt-default", help="checkpoint or name (default: %(default)s)")
    parser.add_argument("--camvid", type=Path, help="CamVid folder (train, trainannot, val, valannot)")
    parser.add_argument("--limit", type=int, default=101, help="CamVid val images (default: all 101)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--fp32-blocks", type=int, default=precision.INT8_FP32_BLOCKS,
                        help="first encoder blocks int8 keeps in fp32 (default: as shipped, %(default)s)")  # fmt: skip
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    precision.INT8_FP32_BLOCKS = args.fp32_blocks  # what prepare_model reads when Segmenter builds the runner
    model = load_model(args.model)
    sets = {"examples/shapes": shapes_set()}
    if args.camvid is not None:
        sets["camvid val"] = camvid_set(args.camvid, args.limit)
    results = {name: agreement(model, data, args.batch_size) for name, data in sets.items()}
    print(f"{args.model}, {torch.get_num_threads()} threads, {args.fp32_blocks} block(s) fp32: int8 vs fp32 labels")
    print(f"{'set':<18}{'queries':>8}{'pixels':>10}{'equal %':>9}{'fp32 s':>8}{'int8 s':>8}{'speed-up':>9}")
    for name, r in results.items():
        print(f"{name:<18}{r['queries']:>8}{r['pixels']:>10}{100 * r['agreement']:>9.2f}"
              f"{r['fp32_s_per_query']:>8.3f}{r['int8_s_per_query']:>8.3f}{r['int8_speedup']:>8.2f}x")  # fmt: skip
    if args.json:
        row = {"model": args.model, "threads": torch.get_num_threads(), "fp32_blocks": args.fp32_blocks}
        args.json.write_text(json.dumps({**row, **results}, indent=2))


if __name__ == "__main__":
    main()
