"""`seggpt eval fewshot|vos|semantic`: the paper's evaluation protocols; each prints a table and writes JSON.

Every run keeps its finished items in `OUTPUT/items.jsonl` and resumes from them when rerun with the same
settings (`--no-resume` starts afresh). The settings include the model's fingerprint (its file's size and time)
or the baseline: an output folder holding a run with other settings is refused, never silently mixed.
Under `torchrun --nproc-per-node N` each rank takes every N-th episode / image / sequence, keeps
`OUTPUT/items.<rank>-of-<N>.jsonl`, and rank 0 writes the same report as one process would.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, get_args

from tqdm import tqdm

from seggpt.data.camvid import CAMVID_CLASSES
from seggpt.data.coco import coco20i
from seggpt.data.davis import davis_sequences
from seggpt.data.fewshot import FewShotDataset, sample_episodes
from seggpt.data.folder import label_map_pairs
from seggpt.data.fss1000 import fss1000
from seggpt.data.voc import pascal5i
from seggpt.evaluation import fewshot, semantic, vos
from seggpt.evaluation.cache import ResultCache, model_fingerprint, write_json
from seggpt.inference.precision import COMPILE_HELP, DTYPE_HELP, PRECISIONS
from seggpt.inference.prediction import Upsample
from seggpt.inference.segmenter import Ensemble
from seggpt.inference.shard import Shard, join_shards, leave_shards
from seggpt.safety import check_device, check_not_inputs, check_output_folder

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
        choices=("paste",),
        help="instead of a model, a trivial baseline: paste (the prompt's mask, or the first frame's, as the answer)",
    )
    parser.add_argument("--output", required=True, type=Path, metavar="DIR", help="results folder (cache and JSON)")
    parser.add_argument("--device", default="cpu", help="torch device for the model (default cpu)")
    parser.add_argument("--dtype", choices=PRECISIONS, default="auto", help=DTYPE_HELP)
    parser.add_argument("--compile", action="store_true", help=COMPILE_HELP)
    parser.add_argument("--no-resume", dest="resume", action="store_false", help="ignore finished items in DIR")


def _add_fewshot(sub: Any) -> None:
    p = sub.add_parser("fewshot", help="few-shot mIoU and FB-IoU on FSS-1000, PASCAL-5i or COCO-20i episodes")
    p.add_argument("--dataset", required=True, choices=("fss1000", "pascal5i", "coco20i"))
    p.add_argument("--root", type=Path, help="FSS-1000 folder of class folders, or the VOC2012 folder")
    p.add_argument("--class-list", type=Path, help="FSS-1000: file of class names to test (e.g. the 240 test ones)")
    p.add_argument("--image-list", type=Path, help="PASCAL-5i: image ids to use (default ImageSets/Segmentation/val)")
    p.add_argument("--coco-annotations", type=Path, help="COCO-20i: instances json (e.g. instances_val2014.json)")
    p.add_argument("--coco-images", type=Path, help="COCO-20i: the json's image folder")
    p.add_argument("--folds", type=int, nargs="+", default=[0, 1, 2, 3], help="PASCAL-5i / COCO-20i folds")
    p.add_argument("--shots", type=int, default=1, help="support images per episode (default 1)")
    p.add_argument("--ensemble", default="feature", choices=get_args(Ensemble))
    p.add_argument("--episodes", type=int, help="episodes per fold (default: one per image for FSS-1000, else 1000)")
    p.add_argument("--seed", type=int, default=0)
    _common(p)
    p.set_defaults(run=_sharded(run_fewshot))


def _add_vos(sub: Any) -> None:
    p = sub.add_parser("vos", help="DAVIS J&F: run the video segmenter, or score an existing results folder")
    p.add_argument("--davis-root", required=True, type=Path, help="DAVIS folder (JPEGImages, Annotations, ImageSets)")
    p.add_argument("--sequences", nargs="+", metavar="SEQ", help="sequences (default: the image set, else all)")
    p.add_argument("--imageset", help="ImageSets list, e.g. val, 2017/val, val_dev_480p, or a file")
    p.add_argument("--resolution", default="480p")
    p.add_argument("--year", type=int, choices=(2016, 2017), help="mask encoding (default: guessed per sequence)")
    p.add_argument("--results", type=Path, metavar="DIR", help="score DIR/<seq>/<frame>.png instead of a model")
    p.add_argument("--memory", type=int, default=8, help="predicted frames kept as prompts (default 8)")
    p.add_argument("--submission-zip", type=Path, metavar="ZIP", help="also pack the results as a YouTube-VOS zip")
    _common(p)
    p.set_defaults(run=_sharded(run_vos))


def _add_semantic(sub: Any) -> None:
    p = sub.add_parser("semantic", help="confusion-matrix mIoU on a label-map dataset (CamVid, ADE20K-style)")
    p.add_argument("--images", required=True, type=Path, help="images of the split to score")
    p.add_argument("--labels", required=True, type=Path, help="label maps <stem>.png of those images")
    p.add_argument("--train-images", type=Path, help="images to draw prompts from (needed with --model)")
    p.add_argument("--train-labels", type=Path, help="label maps of the prompt images")
    p.add_argument("--preset", choices=("camvid",), help="camvid: 11 classes, ignore 11, CamVid class names")
    p.add_argument("--num-classes", type=int, help="classes 0..N-1")
    p.add_argument("--ignore-index", type=int, default=255, help="label value left out (default 255)")
    p.add_argument("--class-names", help="comma-separated names of classes 0..N-1")
    p.add_argument("--num-prompts", type=int, default=4, help="training images used as prompts (default 4)")
    p.add_argument("--ensemble", default="feature", choices=get_args(Ensemble))
    p.add_argument("--seed", type=int, default=0)
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
    p.set_defaults(run=_sharded(run_semantic))


def _sharded(runner: Any) -> Any:
    """Run `runner(args, shard)` in this process's torchrun shard (alone: rank 0 of 1), then leave the group."""

    def run(args: argparse.Namespace) -> int:
        shard = join_shards()
        args.device = shard.device(args.device)
        try:
            return int(runner(args, shard))
        finally:
            leave_shards(shard)

    return run


def _one_source(args: argparse.Namespace, *others: str) -> None:
    """Exactly one of --model, --baseline and the given other options must be set; the device and output usable."""
    names = ["model", "baseline", *others]
    given = [n for n in names if getattr(args, n, None) is not None]
    if len(given) != 1:
        options = ", ".join("--" + n.replace("_", "-") for n in names)
        raise ValueError(f"give exactly one of {options} (got {len(given)})")
    check_device(args.device)
    check_output_folder(args.output, "--output")


def _segmenter(args: argparse.Namespace, **kwargs: Any) -> Any:
    """A `Segmenter` over --model, or the --baseline stand-in."""
    if args.baseline == "paste":
        from seggpt.evaluation.baselines import PastePrompt

        return PastePrompt()
    from seggpt.inference.segmenter import Segmenter

    return Segmenter(_load_model(args), device=args.device, dtype=args.dtype, compile=args.compile, **kwargs)


def _load_model(args: argparse.Namespace) -> Any:
    from seggpt import load_model

    return load_model(args.model, device=args.device)


def run_fewshot(args: argparse.Namespace, shard: Shard) -> int:
    """Run each fold's episodes, print its table, write OUTPUT/fewshot.json."""
    _one_source(args)
    segmenter = _segmenter(args, ensemble=args.ensemble)
    report = fewshot.FewShotReport(args.dataset, args.shots, args.ensemble)
    for fold in [None] if args.dataset == "fss1000" else args.folds:
        dataset = _fewshot_dataset(args, fold)
        num_episodes = args.episodes if args.episodes or args.dataset == "fss1000" else 1000
        episodes = sample_episodes(dataset, args.shots, num_episodes, args.seed)
        settings = {
            "protocol": "fewshot",
            "dataset": dataset.name,
            "root": str(args.root),
            "coco_annotations": str(args.coco_annotations),
            "model": args.model,
            "model_fingerprint": model_fingerprint(args.model),
            "baseline": args.baseline,
            "shots": args.shots,
            "ensemble": args.ensemble,
            "episodes": len(episodes),
            "seed": args.seed,
        }
        cache = ResultCache(args.output / dataset.name, settings, resume=args.resume, shard=shard)
        meter = fewshot.evaluate_fewshot(segmenter, dataset, tqdm(shard.take(episodes), desc=dataset.name), cache)
        if not shard.is_main:
            continue
        title = f"{dataset.name}, {args.shots}-shot"
        fold = fewshot.FewShotFold(dataset.name, title, meter, dataset.class_names, len(episodes))
        print(fold.table())
        report.folds.append(fold)
    if shard.is_main:
        write_json(args.output / "fewshot.json", report.to_json())
        print(f"wrote {args.output / 'fewshot.json'}")
    return 0


def _fewshot_dataset(args: argparse.Namespace, fold: int | None) -> FewShotDataset:
    if args.dataset == "coco20i":
        if not (args.coco_annotations and args.coco_images):
            raise ValueError("coco20i needs --coco-annotations JSON and --coco-images DIR")
        return coco20i(args.coco_annotations, args.coco_images, int(fold))  # type: ignore[arg-type]
    if args.root is None:
        raise ValueError(f"{args.dataset} needs --root DIR")
    if args.dataset == "fss1000":
        return fss1000(args.root, args.class_list)
    return pascal5i(args.root, int(fold), args.image_list)  # type: ignore[arg-type]


def run_vos(args: argparse.Namespace, shard: Shard) -> int:
    """Predict (with --model) into OUTPUT/<seq>/, or score --results; print J&F; write OUTPUT/vos.json."""
    _one_source(args, "results")
    sequences = davis_sequences(args.davis_root, args.resolution, args.sequences, args.imageset, args.year)
    results_dir = args.results if args.results is not None else args.output
    settings = {"protocol": "vos", "davis_root": str(args.davis_root.resolve()), "resolution": args.resolution,
                "results": str(results_dir.resolve()), "model": args.model, "memory": args.memory,
                "model_fingerprint": model_fingerprint(args.model), "baseline": args.baseline}  # fmt: skip
    if args.results is None:
        inputs = [p for s in sequences for p in (*s.frames, *s.annotations)]
        check_not_inputs([], inputs, replaced_folders=[args.output / s.name for s in sequences])
    cache = ResultCache(args.output, settings, resume=args.resume, shard=shard)
    mine = shard.take(sequences)
    if args.results is None:
        segmenter: Any
        if args.baseline == "paste":
            from seggpt.evaluation.baselines import PasteFirstFrame

            segmenter = PasteFirstFrame()
        else:
            from seggpt.inference.video import VideoSegmenter

            segmenter = VideoSegmenter(
                _load_model(args), memory=args.memory, device=args.device, dtype=args.dtype, compile=args.compile
            )
        for sequence in tqdm(mine, desc="predict"):
            if not (cache.resumed and vos.has_results(sequence, args.output)):  # only this run's own results
                vos.predict_sequence(segmenter, sequence, args.output)
    for sequence in tqdm(mine, desc="score"):
        if sequence.name not in cache:
            objects = [s.to_dict() for s in vos.score_sequence(sequence, results_dir)]
            cache.add(sequence.name, {"objects": objects})
    cache.gather()
    if not shard.is_main:
        return 0
    scores = [vos.ObjectScore.from_dict(o) for s in sequences for o in cache.items[s.name]["objects"]]
    report = vos.VosReport(scores, settings)
    print(report.table())
    write_json(args.output / "vos.json", report.to_json())
    print(f"wrote {args.output / 'vos.json'}")
    if args.submission_zip is not None:
        zip_path = vos.write_submission_zip(results_dir, args.submission_zip, [s.name for s in sequences])
        print(f"wrote {zip_path}")
    return 0


def run_semantic(args: argparse.Namespace, shard: Shard) -> int:
    """Predict (with --model, prompts from the training split) or read --predictions; print IoU; write JSON."""
    _one_source(args, "predictions")
    num_classes, ignore_index, names = _semantic_classes(args)
    pairs = label_map_pairs(args.images, args.labels)
    settings: dict[str, Any] = {"protocol": "semantic", "images": str(args.images.resolve()), "model": args.model,
                                "model_fingerprint": model_fingerprint(args.model),
                                "predictions": str(args.predictions), "num_classes": num_classes,
                                "ignore_index": ignore_index, "num_prompts": args.num_prompts,
                                "ensemble": args.ensemble, "seed": args.seed,
                                "tuned_prompt": str(args.tuned_prompt), "baseline": args.baseline,
                                "tuned_prompt_fingerprint": model_fingerprint(args.tuned_prompt),
                                "upsample": args.upsample, "background_index": args.background_index}  # fmt: skip
    segmenter = None
    if args.tuned_prompt is not None:
        if args.model is None:
            raise ValueError("--tuned-prompt needs --model (the model it was tuned for)")
        from seggpt.inference.segmenter import Segmenter
        from seggpt.inference.tuned_prompt import load_tuned_prompt

        segmenter = Segmenter(
            _load_model(args), seg_type="semantic", upsample=args.upsample, device=args.device, dtype=args.dtype,
            compile=args.compile,
        )  # fmt: skip
        segmenter.set_tuned_prompt(load_tuned_prompt(args.tuned_prompt))
    elif args.predictions is None:
        if not (args.train_images and args.train_labels):
            raise ValueError("--model and --baseline need --train-images and --train-labels to draw prompts from")
        train = label_map_pairs(args.train_images, args.train_labels)
        chosen = semantic.choose_prompts([p[1] for p in train], args.num_prompts, num_classes, ignore_index, args.seed)
        settings["prompts"] = [train[i][0].name for i in chosen]
        segmenter = _segmenter(args, seg_type="semantic", ensemble=args.ensemble, upsample=args.upsample)
        semantic.set_class_prompts(segmenter, train, chosen, ignore_index, args.background_index)
    cache = ResultCache(args.output, settings, resume=args.resume, shard=shard)
    confusion = semantic.evaluate_semantic(
        tqdm(shard.take(pairs), desc="semantic"), num_classes, ignore_index, cache, segmenter=segmenter,
        predictions=args.predictions, dataset_ids=args.tuned_prompt is not None,
        background=args.background_index,
    )  # fmt: skip
    if not shard.is_main:
        return 0
    report = semantic.SemanticReport(semantic.class_ious(confusion, num_classes), names, settings)
    print(report.table())
    write_json(args.output / "semantic.json", report.to_json())
    print(f"wrote {args.output / 'semantic.json'}")
    return 0


def _semantic_classes(args: argparse.Namespace) -> tuple[int, int, list[str]]:
    if args.preset == "camvid":
        return len(CAMVID_CLASSES), len(CAMVID_CLASSES), list(CAMVID_CLASSES)
    if args.num_classes is None:
        raise ValueError("give --num-classes N (or --preset camvid)")
    names = args.class_names.split(",") if args.class_names else [str(i) for i in range(args.num_classes)]
    if len(names) != args.num_classes:
        raise ValueError(f"--class-names lists {len(names)} names for {args.num_classes} classes")
    return args.num_classes, args.ignore_index, names
