"""`seggpt app`: serve the web page (image and video tabs) on this machine, with one shared model."""

from __future__ import annotations

import argparse
import importlib.util
from typing import Any

from seggpt import load_model
from seggpt.inference import DEVICE_HELP, DTYPE_HELP, PRECISIONS, resolve_dtype
from seggpt.safety import resolve_device

EPILOG = """examples:
  seggpt app                                   # http://127.0.0.1:7860, the embedded default model
  seggpt app --model seggpt-vit-large --device cuda --dtype bf16 --concurrency 2
  seggpt app --host 0.0.0.0 --port 8080 --max-side 768 --max-frames 60   # reachable from the network

The page listens on 127.0.0.1 (this machine only) unless --host says otherwise; --share opens a public
gradio.live link. Requests wait in a queue; --concurrency of them run at once on the one model.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `app` on the `seggpt` command's subparsers."""
    p = subparsers.add_parser(
        "app",
        help="serve a web page to segment images and videos (needs the app extra: pip install seggpt[app])",
        description="A Gradio web page: paint or upload prompt masks, segment images and videos, download results.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--model",
        default="seggpt-default",
        metavar="NAME|PATH",
        help="checkpoint file or name: seggpt-default (the small embedded model, default) or seggpt-vit-large",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s, this machine)")
    p.add_argument("--port", type=int, default=7860, help="port (default: %(default)s)")
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument("--dtype", choices=PRECISIONS, default="auto", help=DTYPE_HELP)
    p.add_argument("--share", action="store_true", help="also open a public gradio.live tunnel (off by default)")
    p.add_argument("--concurrency", type=int, default=1, metavar="N", help="requests run at once (default: 1)")
    p.add_argument("--max-queue", type=int, default=64, metavar="N", help="waiting requests at most (default: 64)")
    p.add_argument("--max-upload-mb", type=float, default=20.0, metavar="MB", help="largest upload (default: 20)")
    p.add_argument(
        "--max-side", type=int, default=1024, metavar="PX", help="longer image sides are downscaled to this (1024)"
    )
    p.add_argument("--max-frames", type=int, default=100, metavar="N", help="videos are cut after N frames (100)")
    p.add_argument("--max-classes", type=int, default=16, metavar="N", help="classes or video objects at most (16)")
    p.add_argument("--max-queries", type=int, default=16, metavar="N", help="query images per request at most (16)")
    p.add_argument(
        "--max-tune-steps",
        type=int,
        default=300,
        metavar="N",
        help="in-context tuning steps a request may ask for before segmenting (300; 0 turns tuning off)",
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    """Check the options, load the model, build the page and serve it until interrupted."""
    if importlib.util.find_spec("gradio") is None:
        raise ValueError("seggpt app needs Gradio: install the app extra, pip install -e '.[app]'")
    for flag in ("port", "concurrency", "max_queue"):
        if getattr(args, flag) < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be at least 1, got {getattr(args, flag)}")
    if args.port > 65535:
        raise ValueError(f"--port must be at most 65535, got {args.port}")
    device = resolve_device(args.device)

    from seggpt.app import Limits, build_app, launch

    try:
        limits = Limits(
            args.max_upload_mb, args.max_side, args.max_frames, args.max_classes, args.max_queries, args.max_tune_steps
        )
    except ValueError as err:
        raise ValueError(f"--{str(err).replace('_', '-')}") from None
    try:
        resolve_dtype(args.dtype, device)  # before loading: a precision the device cannot run (fp16 on a CPU)
    except ValueError as err:
        raise ValueError(f"--{err}") from None
    model = load_model(args.model, device=device)
    demo = build_app(model, limits=limits, dtype=args.dtype)
    try:
        launch(
            demo,
            host=args.host,
            port=args.port,
            share=args.share,
            concurrency=args.concurrency,
            max_queue=args.max_queue,
            max_upload_mb=args.max_upload_mb,
        )
    except OSError as err:
        raise ValueError(f"--host {args.host} --port {args.port}: cannot listen there ({err})") from None
    return 0
