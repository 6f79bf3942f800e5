"""`seggpt eval fewshot|vos|semantic`: the paper's evaluation protocols; each prints a table and writes JSON.

Every run keeps its finished items in `OUTPUT/items.jsonl` and resumes from them when rerun with the same
settings (`--no-resume` starts afresh). The settings include the model's fingerprint (its file's size and time)
or the baseline: an output folder holding a run with other settings is refused, never silently mixed.
Under `torchrun --nproc-per-node N` each rank takes every N-th episode / image / sequence, keeps
`OUTPUT/items.<rank>-of-<N>.jsonl`, and rank 0 writes the same report as one process would.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, get_args

from seggpt.data import FEWSHOT_LAYOUTS, FewShotFiles
from seggpt.evaluation import (
    SEMANTIC_PRESETS,
    Baseline,
    FewShotOptions,
    Outcome,
    RunOptions,
    SemanticClasses,
    SemanticOptions,
    Source,
    VosOptions,
    run_fewshot,
    run_semantic,
    run_vos,
)
from seggpt.inference import (
    COMPILE_HELP,
    DEVICE_HELP,
    DTYPE_HELP,
    PRECISIONS,
    Ensemble,
    Upsample,
    join_shards,
    leave_shards,
)
from seggpt.safety import resolve_device

ENSEMBLE_HELP = "combining several prompts: feature (default), spatial or none (as in `seggpt segment --help`)"
EPILOG = """examples:
  seggpt eval fewshot --dataset fss1000 --root fewshot_data --class-list fss_test_set.txt \\
      --model seggpt-vit-large --shots 1 --output runs/fss
  seggpt eval vos --davis-root DAVIS --imageset 2017/val --model seggpt-vit-large --output runs/davis17
  seggpt eval vos --davis-root DAVIS --results my_results/ --output runs/scored   # no model
  seggpt eval semantic --preset camvid --images camvid/val --labels camvid/valannot \\
      --train-images camvid/train --train-labels camvid/trainannot --model seggpt-vit-large --output runs/camvid
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `eval` (with its fewshot, vos and semantic subcommands) on the `seggpt` subparsers."""
    parser = subparsers.add_parser(
        "eval",
        help="evaluate with the paper's protocols (few-shot, video, semantic)",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="protocol", required=True, metavar="PROTOCOL")
    _add_fewshot(sub)
    _add_vos(sub)
    _add_semantic(sub)
    return parser


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="checkpoint file or name (see `seggpt.load_model`)")
    parser.add_argument(
        "--baseline",
        choices=get_args(Baseline),
        help="instead of a model, a trivial baseline: paste (the prompt's mask, or the first frame's, as the answer)",
    )
    parser.add_argument("--output", required=True, type=Path, metavar="DIR", help="results folder (cache and JSON)")
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)
    parser.add_argument("--dtype", choices=PRECISIONS, default="auto", help=DTYPE_HELP)
    parser.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    parser.add_argument("--no-resume", dest="resume", action="store_false", help="ignore finished items in DIR")


def _add_fewshot(sub: Any) -> None:
    p = sub.add_parser("fewshot", help="few-shot mIoU and FB-IoU on FSS-1000, PASCAL-5i or COCO-20i episodes")
    p.add_argument("--dataset", required=True, choices=tuple(FEWSHOT_LAYOUTS), help="few-shot dataset layout")
    p.add_argument("--root", type=Path, help="FSS-1000 folder of class folders, or the VOC2012 folder")
    p.add_argument("--class-list", type=Path, help="FSS-1000: file of class names to test (e.g. the 240 test ones)")
    p.add_argument("--image-list", type=Path, help="PASCAL-5i: image ids to use (default ImageSets/Segmentation/val)")
    p.add_argument("--coco-annotations", type=Path, help="COCO-20i: instances json (e.g. instances_val2014.json)")
    p.add_argument("--coco-images", type=Path, help="COCO-20i: the json's image folder")
    p.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3], help="PASCAL-5i / COCO-20i folds")
    p.add_argument("--shots", type=int, default=1, help="support images per episode (default 1)")
    p.add_argument("--ensemble", default="feature", choices=get_args(Ensemble), help=ENSEMBLE_HELP)
    p.add_argument("--episodes", type=int, help="episodes per fold (default: one per image for FSS-1000, else 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the supports drawn per episode (default 0)")
    _common(p)
    p.set_defaults(run=_fewshot)


def _add_vos(sub: Any) -> None:
    p = sub.add_parser("vos", help="DAVIS J&F: run the video segmenter, or score an existing results folder")
    p.add_argument("--davis-root", required=True, type=Path, help="DAVIS folder (JPEGImages, Annotations, ImageSets)")
    p.add_argument("--sequences", nargs="+", metavar="SEQ", help="sequences (default: the image set, else all)")
    p.add_argument("--imageset", help="ImageSets list, e.g. val, 2017/val, val_dev_480p, or a file")
    p.add_argument("--resolution", default="480p", help="DAVIS JPEGImages/Annotations subfolder (default 480p)")
    p.add_argument("--year", type=int, choices=(2016, 2017), help="mask encoding (default: guessed per sequence)")
    p.add_argument("--results", type=Path, metavar="DIR", help="score DIR/<seq>/<frame>.png instead of a model")
    p.add_argument("--memory", type=int, default=8, help="predicted frames kept as prompts (default 8)")
    p.add_argument(
        "--no-keep-first", dest="keep_first", action="store_false",
        help="let the first frame leave the memory (as `seggpt video --no-keep-first`)",
    )  # fmt: skip
    p.add_argument("--submission-zip", type=Path, metavar="ZIP", help="also pack the results as a YouTube-VOS zip")
    _common(p)
    p.set_defaults(run=_vos)


def _add_semantic(sub: Any) -> None:
    p = sub.add_parser("semantic", help="confusion-matrix mIoU on a label-map dataset (CamVid, ADE20K-style)")
    p.add_argument("--images", required=True, type=Path, help="images of the split to score")
    p.add_argument("--labels", required=True, type=Path, help="label maps <stem>.png of those images")
    p.add_argument("--train-images", type=Path, help="images to draw prompts from (needed with --model)")
    p.add_argument("--train-labels", type=Path, help="label maps of the prompt images")
    p.add_argument(
        "--preset", choices=tuple(SEMANTIC_PRESETS), help="camvid: 11 classes, ignore 11, CamVid class names"
    )
    p.add_argument("--num-classes", type=int, help="classes 0..N-1")
    p.add_argument("--ignore-index", type=int, default=255, help="label value left out (default 255)")
    p.add_argument("--class-names", help="comma-separated names of classes 0..N-1")
    p.add_argument("--num-prompts", type=int, default=4, help="training images used as prompts (default 4)")
    p.add_argument("--ensemble", default="feature", choices=get_args(Ensemble), help=ENSEMBLE_HELP)
    p.add_argument("--seed", type=int, default=0, help="seed of the choice of prompt images (default 0)")
    p.add_argument("--predictions", type=Path, metavar="DIR", help="score DIR/<stem>.png (dataset ids), no model")
    p.add_argument(
        "--background-index",
        type=int,
        metavar="B",
        help="a class that is background (e.g. 0 for synthetic scenes or VOC): black in the prompts, as SegGPT's "
        "background, instead of a coloured class",
    )
    p.add_argument("--upsample", default="nearest", choices=get_args(Upsample), help="see `seggpt segment`")
    p.add_argument(
        "--tuned-prompt",
        type=Path,
        metavar="FILE",
        help="with --model: a prompt from `seggpt tune` instead of training images as prompts",
    )
    _common(p)
    p.set_defaults(run=_semantic)


def _run(
    args: argparse.Namespace, predictions: Path | None, runner: Callable[[RunOptions], Outcome[Any] | None]
) -> int:
    """Call ``runner`` in this process's torchrun shard (alone: rank 0 of 1); the main process prints the report."""
    shard = join_shards()
    try:
        run = RunOptions(
            source=Source(model=args.model, baseline=args.baseline, predictions=predictions),
            output=args.output, device=shard.device(resolve_device(args.device)), dtype=args.dtype,
            compile=args.compile, resume=args.resume, shard=shard,
        )  # fmt: skip
        outcome = runner(run)
        if outcome is not None:
            print(outcome.report.table())
            for path in outcome.written:
                print(f"wrote {path}")
        return 0
    finally:
        leave_shards(shard)


def _fewshot(args: argparse.Namespace) -> int:
    files = FewShotFiles(root=args.root, class_list=args.class_list, image_list=args.image_list,
                         annotations=args.coco_annotations, images=args.coco_images)  # fmt: skip
    options = FewShotOptions(dataset=args.dataset, files=files, folds=tuple(args.folds), shots=args.shots,
                             ensemble=args.ensemble, episodes=args.episodes, seed=args.seed)  # fmt: skip
    return _run(args, None, lambda run: run_fewshot(options, run))


def _vos(args: argparse.Namespace) -> int:
    options = VosOptions(
        davis_root=args.davis_root, resolution=args.resolution, imageset=args.imageset, year=args.year,
        sequences=tuple(args.sequences) if args.sequences is not None else None, memory=args.memory,
        keep_first=args.keep_first, submission_zip=args.submission_zip,
    )  # fmt: skip
    return _run(args, args.results, lambda run: run_vos(options, run))


def _semantic(args: argparse.Namespace) -> int:
    options = SemanticOptions(
        images=args.images, labels=args.labels, classes=_semantic_classes(args), train_images=args.train_images,
        train_labels=args.train_labels, num_prompts=args.num_prompts, ensemble=args.ensemble, seed=args.seed,
        background_index=args.background_index, upsample=args.upsample, tuned_prompt=args.tuned_prompt,
    )  # fmt: skip
    return _run(args, args.predictions, lambda run: run_semantic(options, run))


def _semantic_classes(args: argparse.Namespace) -> SemanticClasses:
    if args.preset is not None:
        return SEMANTIC_PRESETS[args.preset]
    if args.num_classes is None:
        raise ValueError("give --num-classes N (or --preset camvid)")
    names = args.class_names.split(",") if args.class_names else [str(i) for i in range(args.num_classes)]
    if len(names) != args.num_classes:
        raise ValueError(f"--class-names lists {len(names)} names for {args.num_classes} classes")
    return SemanticClasses(tuple(names), args.ignore_index)
