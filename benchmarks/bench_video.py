"""Video segmentation speed, I/O included: frames per second of what `seggpt video` does per frame.

Per frame: read the JPEG (`FrameSource`), `VideoSegmenter.step` (the model, decoding, resizing to the frame
size), write the indexed PNG (`ResultWriter`). The frames are a DAVIS sequence (`--frames`, its first
annotation as the mask) or, by default, synthetic 854x480 JPEGs of a moving square written to a temporary
folder. With `--prefill` the memory starts full (K copies of the first frame), so every timed frame runs at
the steady state of a long video (K + 1 prompt canvases); otherwise the first frames are cheaper.

    python benchmarks/bench_video.py                                   # embedded default model, 480p, 30 frames
    python benchmarks/bench_video.py --frames ../shared/data/davis2016/JPEGImages/480p/blackswan --dtype int8
    python benchmarks/bench_video.py --model seggpt_vit_large.pth --device cuda --dtype bf16 --compile
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from seggpt import VideoSegmenter, load_model
from seggpt.data.davis import find_first_annotation
from seggpt.inference.precision import PRECISIONS, resolve_dtype
from seggpt.inference.video_io import FrameSource, davis_palette, read_first_mask
from seggpt.inference.video_outputs import ResultWriter


def synthetic_frames(folder: Path, count: int, size: tuple[int, int]) -> Path:
    """`count` JPEG frames of a red square moving on noise in `folder`, and its first mask beside them."""
    H, W = size
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for t in range(count):
        rgb = rng.integers(0, 80, (H, W, 3), dtype=np.uint8)
        rgb[H // 4 : H // 2, W // 8 + 4 * t : W // 4 + 4 * t] = (230, 60, 40)
        Image.fromarray(rgb).save(folder / f"{t:05d}.jpg", quality=90)
    mask = np.zeros(size, dtype=np.uint8)
    mask[H // 4 : H // 2, W // 8 : W // 4] = 1
    mask[3 * H // 4 :, W // 2 :] = 2
    Image.fromarray(mask).save(folder.with_name("mask.png"))
    return folder.with_name("mask.png")


def run(args: argparse.Namespace, frames_dir: Path, mask_path: Path, out_dir: Path) -> dict[str, float | int | str]:
    """Segment the frames once, timing each stage; returns one result row."""
    model = load_model(args.model, device=args.device)
    segmenter = VideoSegmenter(
        model, memory=args.memory, keep_first=args.keep_first, device=args.device, dtype=args.dtype,
        compile=args.compile,
    )  # fmt: skip
    source = FrameSource(frames_dir)
    first_mask, _ = read_first_mask(mask_path)
    stages: defaultdict[str, float] = defaultdict(float)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    timed = 0
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    with ResultWriter(out_dir, davis_palette()) as writer:
        frames = iter(source)
        first = next(frames)
        state = segmenter.init_state(first.rgb, first_mask)
        if args.prefill and state.anchor_image is not None and state.anchor_target is not None:
            for _ in range(args.memory):
                state.memory_images.append(state.anchor_image)
                state.memory_targets.append(state.anchor_target)
                state.memory_frames.append(0)
        writer.write(first.name, first_mask)
        for index in range(1, args.num_frames + 1):
            t0 = clock()
            frame = next(frames, None)
            if frame is None:
                break
            t1 = clock()
            labels = segmenter.step(state, frame.rgb)
            sync()
            t2 = clock()
            writer.write(frame.name, labels)
            t3 = clock()
            if index > args.warmup:  # the first frames pay one-off costs (and compilation)
                stages["read"] += t1 - t0
                stages["step"] += t2 - t1
                stages["write"] += t3 - t2
                timed += 1
    if timed == 0:
        raise SystemExit(f"bench_video: no frames left to time after {args.warmup} warm-up frames")
    total = sum(stages.values())
    return {"model": args.model, "device": args.device, "dtype": resolve_dtype(args.dtype, args.device),
            "compile": args.compile, "frame_size": "x".join(map(str, first.rgb.shape[:2])),
            "canvas": "x".join(map(str, model.config.image_size)), "memory": args.memory,
            "keep_first": args.keep_first, "frames": timed,
            "threads": torch.get_num_threads(), "clock": args.clock, "frames_per_s": timed / total,
            **{f"{k}_ms": 1e3 * v / timed for k, v in stages.items()}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="seggpt-default", help="checkpoint or name (default: %(default)s)")
    parser.add_argument("--frames", type=Path, help="a frames folder (DAVIS JPEGImages/480p/<seq>); default synthetic")
    parser.add_argument("--mask", type=Path, help="first-frame mask (default: the DAVIS annotation beside --frames)")
    parser.add_argument("--num-frames", type=int, default=30, help="frames after the first (default 30)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed frames first (default 2)")
    parser.add_argument("--memory", type=int, default=8, help="K recent frames kept (default 8, the paper's)")
    parser.add_argument(
        "--no-keep-first", dest="keep_first", action="store_false", help="let the first frame leave the memory"
    )
    parser.add_argument("--prefill", action="store_true", help="start with a full memory (steady state)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=PRECISIONS, default="auto")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="wall time, or CPU time (with --threads 1: robust on a busy machine)")  # fmt: skip
    parser.add_argument("--json", type=Path, help="also write the result row here")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        frames_dir, mask = args.frames, args.mask
        if frames_dir is None:
            mask = synthetic_frames(Path(tmp) / "frames", args.num_frames + 1, (480, 854))
            frames_dir = Path(tmp) / "frames"
        elif mask is None:
            mask = find_first_annotation(frames_dir, sorted(p.stem for p in frames_dir.glob("*.jpg"))[0])
            if mask is None:
                raise SystemExit(f"bench_video: no first annotation found for {frames_dir}; give --mask")
        row = run(args, frames_dir, mask, Path(tmp) / "out")
    print(json.dumps(row))
    print(f"{row['model']} {row['dtype']} on {row['device']} ({row['threads']} threads, {args.clock} time), "
          f"{row['frame_size']} frames, "
          f"memory {row['memory']}: {row['frames_per_s']:.2f} frames/s (read {row['read_ms']:.1f} ms, step "
          f"{row['step_ms']:.1f} ms, write {row['write_ms']:.1f} ms per frame)")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(row, indent=2) + "\n")


if __name__ == "__main__":
    main()
