"""Training-pair building speed: in-context examples per second of one loader process, and a digest of the stream.

`seggpt train` builds every example on the CPU (read, crop, resize, jitter, colour, normalise) in its loader
processes, and on a GPU that is what bounds training (the default model's recipe ran at 176-190 pairs/s with 14
processes on one H200; README, model card). This script builds the examples of a training config in one process
(`training_dataset`, exactly what the trainer samples) and reports pairs per second and a SHA-256 of the first
`--digest` examples' tensors: two versions of the code that print the same digest give the same training run.

    python benchmarks/bench_pairs.py --set data.synthetic=true                       # synthetic scenes only
    python benchmarks/bench_pairs.py configs/default_model.yaml --set data.camvid_root=../shared/data/camvid \\
        --set data.davis_root=../shared/data/davis2016 --pairs 300
    PYTHONPATH=<other checkout>/src python benchmarks/bench_pairs.py ...      # the same, another version's code
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import torch

from seggpt.model import get_preset
from seggpt.training.config import load_config
from seggpt.training.dataset import training_dataset


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", help="training config YAML (default: the built-in defaults)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key")
    parser.add_argument("--pairs", type=int, default=200, help="timed examples (default 200)")
    parser.add_argument("--digest", type=int, default=50, help="examples hashed first, untimed (default 50)")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # as a loader process
    try:
        config = load_config(args.config, args.set)
        preset = get_preset(config.model.preset)
        dataset = training_dataset(config, preset.image_size, preset.patch_size)
    except (OSError, ValueError) as err:  # a bad config, key or data root: one line, as `seggpt train` says it
        parser.exit(2, f"error: {err}\n")
    digest = hashlib.sha256()
    for index in range(args.digest):
        example = dataset[index]
        for value in vars(example).values():
            if isinstance(value, torch.Tensor):
                digest.update(value.numpy().tobytes())
    start = time.perf_counter()
    for index in range(args.digest, args.digest + args.pairs):
        dataset[index]
    row = {"config": args.config, "overrides": args.set, "pairs": args.pairs,
           "pairs_per_s": args.pairs / (time.perf_counter() - start), "digest": digest.hexdigest()[:16]}  # fmt: skip
    print(f"{row['pairs_per_s']:.1f} pairs/s in one process; stream digest {row['digest']} (first {args.digest})")
    if args.json:
        args.json.write_text(json.dumps(row, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
