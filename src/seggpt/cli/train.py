"""`seggpt train`: train or fine-tune SegGPT with in-context colouring, alone or under torchrun."""

from __future__ import annotations

import argparse
from typing import Any

import yaml

from seggpt.atomic import clean_stale_temps
from seggpt.safety import check_device

EPILOG = """examples:
  # the tiny preset on CamVid train + DAVIS 2016 train (240p) + synthetic warm-up, evaluated on CamVid val
  seggpt train configs/train_tiny_camvid_davis.yaml \\
      --set data.camvid_root=../shared/data/camvid --set data.davis_root=../shared/data/davis2016

  # continue an interrupted run exactly where its last checkpoint left it (more run.steps is allowed; a change
  # that breaks exactness, e.g. optim.lr or run.batch_size, is refused and listed)
  seggpt train configs/train_tiny_camvid_davis.yaml --set run.resume=auto ...

  # an output_dir holding a run is refused unless resumed or replaced on purpose
  seggpt train CONFIG.yaml --set run.overwrite=true

  # two processes (DDP; gloo on CPU, nccl on GPU); run.batch_size is the global batch
  torchrun --nproc_per_node 2 -m seggpt.cli.main train CONFIG.yaml --set run.strategy=ddp

  # fine-tune the released weights (FSDP on several GPUs)
  torchrun --nproc_per_node 8 -m seggpt.cli.main train CONFIG.yaml --set model.preset=seggpt-vit-large \\
      --set model.init=seggpt_vit_large.pth --set run.strategy=fsdp --set run.precision=bf16

Outputs in run.output_dir: log.csv (step, lr, loss, eval_miou, seconds), last.pt (exact-resume state),
model.safetensors (the trained model: `seggpt.load_model(PATH)`), tensorboard/ when tensorboard is installed.
A non-finite loss stops the run (exit 2) before the update; last.pt keeps the last good state.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `train` on the `seggpt` command's subparsers."""
    parser = subparsers.add_parser(
        "train",
        help="train or fine-tune SegGPT from a YAML config (in-context colouring, DDP/FSDP under torchrun)",
        description="Train SegGPT with in-context colouring (paper 3.1, 4.2): random colour mappings per "
        "in-context pair, mixed context, AdamW with a cosine schedule. The config is a YAML file with the "
        "sections model, data, optim and run; --set overrides any key.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("config", metavar="CONFIG.yaml", nargs="?", help="training config (default: all defaults)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, e.g. --set run.steps=200 --set data.camvid_root=PATH (repeatable)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.set_defaults(run=run)
    return parser


def run(args: argparse.Namespace) -> int:
    """Resolve the config, train, and print where the results are."""
    from seggpt.training import load_config

    config = load_config(args.config, args.overrides)
    if args.print_config:
        print(yaml.safe_dump(config.to_dict(), sort_keys=False), end="")
        return 0
    from seggpt.training import Trainer, check_run_folder
    from seggpt.training import distributed as D

    check_run_folder(
        config.run.output_dir, resume=config.run.resume, overwrite=config.run.overwrite, inputs=config.input_files()
    )
    clean_stale_temps(config.run.output_dir)
    if config.run.device == "cuda":
        check_device("cuda", "run.device")

    env = D.init_distributed(config.run.device)
    try:
        trainer = Trainer(config, env)
        trainer.fit()
        if env.is_main:
            print(
                f"trained {config.run.steps} steps; model: {trainer.output_dir / 'model.safetensors'}, "
                f"log: {trainer.output_dir / 'log.csv'}, resume state: {trainer.output_dir / 'last.pt'}"
            )
    finally:
        D.cleanup(env)
    return 0
