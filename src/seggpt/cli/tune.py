"""`seggpt tune`: learn a prompt for a fixed-class dataset or a few examples with the model frozen (paper 3.3)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from seggpt.atomic import clean_stale_temps
from seggpt.cli.options import add_prompt_options
from seggpt.data import CLASS_LAYOUTS
from seggpt.inference import DEVICE_HELP
from seggpt.safety import check_not_inputs, check_output_file, resolve_device

EPILOG = """examples:
  # a few examples, given as to `seggpt segment --prompt` (masks in the same forms, the same class ids out)
  seggpt tune --prompt a.png a_mask.png --prompt b.png b_mask.png --output nuclei.safetensors
  seggpt segment --tuned-prompt nuclei.safetensors --input photos/ --output out/

  # tune a CamVid prompt for a model, then use it
  seggpt tune --dataset camvid --data-root data/camvid --model model.safetensors --output camvid_prompt.safetensors
  seggpt segment --model model.safetensors --tuned-prompt camvid_prompt.safetensors --input photos/ --output out/
  seggpt eval semantic --preset camvid --images data/camvid/val --labels data/camvid/valannot \\
      --model model.safetensors --tuned-prompt camvid_prompt.safetensors --output eval/

  # your own classes: images/ + masks/ (0 background, 1..K classes, 255 ignored)
  seggpt tune --dataset folder --images imgs/ --masks masks/ --class-names cat,dog --model M --output p.safetensors

An interrupted run resumes with --resume (the state is kept in OUTPUT.state.pt); a resume with another model,
dataset or setting (more --steps and another --save-every aside) is refused with the changes listed."""

DATASET_ONLY = {"--data-root": "data_root", "--split": "split", "--images": "images", "--masks": "masks"}


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `tune` on the `seggpt` command's subparsers."""
    p = subparsers.add_parser(
        "tune",
        help="learn a prompt for a dataset's classes (in-context tuning), save it, use it",
        description="Freeze the model and learn only the prompt image and target on a dataset with fixed classes or "
        "on a few examples; the saved prompt then segments those classes with no example at inference time.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_prompt_options(p, "tune on examples instead of a --dataset")
    p.add_argument("--dataset", choices=(*CLASS_LAYOUTS, "folder"), help="dataset layout (or --prompt examples)")
    p.add_argument("--data-root", type=Path, help="dataset root (camvid, ade20k, voc)")
    p.add_argument("--split", help="training split folder (default: the layout's training split)")
    p.add_argument("--images", type=Path, help="folder dataset: the images")
    p.add_argument("--masks", type=Path, help="folder dataset: label maps <stem>.png (0 bg, 1..K, 255 ignored)")
    p.add_argument(
        "--class-names", help="folder dataset or --prompt: comma-separated class names, in ascending id order"
    )
    p.add_argument(
        "--model", default="seggpt-default", metavar="NAME|PATH", help="model to tune for (default: %(default)s)"
    )
    p.add_argument("--config", metavar="JSON", help="architecture of an official-layout checkpoint that is not ViT-L")
    p.add_argument("--output", required=True, type=Path, metavar="FILE", help="tuned prompt (.safetensors)")
    p.add_argument("--steps", type=int, default=300, help="optimiser steps (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=4, help="query images per step (default: %(default)s)")
    p.add_argument("--lr", type=float, default=0.03, help="peak learning rate (default: %(default)s)")
    p.add_argument("--warmup-steps", type=int, default=20, help="linear warmup steps (default: %(default)s)")
    p.add_argument(
        "--dtype",
        "--precision",
        dest="precision",
        choices=("auto", "fp32", "bf16"),
        default="auto",
        help="precision of the frozen model: auto (default: bf16 where the hardware runs it fast, a GPU with bf16 "
        "or a CPU with AMX, else fp32), fp32 or bf16 (autocast)",
    )
    p.add_argument("--seed", type=int, default=0, help="seeds the data order and the initial prompt (default: 0)")
    p.add_argument("--save-every", type=int, default=50, help="steps between resumable states (default: 50)")
    p.add_argument("--resume", action="store_true", help="continue from OUTPUT.state.pt if it exists")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Build the dataset, load the model, tune, write the prompt atomically."""
    from seggpt import load_model
    from seggpt.inference import save_tuned_prompt
    from seggpt.model import checkpoint_files, config_files
    from seggpt.tuning import TuneConfig, prompt_dataset, tune_dataset, tune_prompt

    args.device = resolve_device(args.device)
    check_output_file(args.output, "--output")
    state = args.output.with_name(args.output.name + ".state.pt")
    names = args.class_names.split(",") if args.class_names else None
    if (args.prompt is None) == (args.dataset is None):
        raise ValueError("give either --dataset (with its folders) or --prompt IMAGE MASK (one or more)")
    if args.prompt is not None:
        extra = [flag for flag, value in DATASET_ONLY.items() if getattr(args, value) is not None]
        if extra:
            raise ValueError(f"{', '.join(extra)} apply to --dataset, not to --prompt examples")
        data = prompt_dataset(args.prompt, ignore_value=args.ignore_value, class_names=names)
    else:
        if args.ignore_value is not None:
            raise ValueError("--ignore-value applies to --prompt examples; a --dataset layout knows its own")
        data = tune_dataset(
            args.dataset, args.data_root, split=args.split, images=args.images, masks=args.masks, class_names=names
        )
    inputs = [path for pair in data.source.files for path in pair]  # the dataset's images and masks
    inputs += [*checkpoint_files(args.model), *config_files(args.config)]
    check_not_inputs([args.output, state], inputs)
    config = TuneConfig(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, warmup_steps=args.warmup_steps,
        precision=args.precision, seed=args.seed, save_every=args.save_every,
    )  # fmt: skip
    model = load_model(args.model, config=args.config, device=args.device)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(args.output.parent)
    tuned = tune_prompt(model, data, config, state_path=state, resume=args.resume, progress=not args.no_progress)
    save_tuned_prompt(tuned, args.output)
    print(f"tune: {len(tuned.class_ids)} classes, {config.steps} steps -> {args.output}")
    return 0
