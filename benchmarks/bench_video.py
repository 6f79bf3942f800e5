"""Video segmentation speed: frames per second of `VideoSegmenter.step` for presets with random weights.

The cost of a frame depends on the number of prompt canvases (the kept first frame + up to K recent
predictions), not on what they hold, so by default the memory is pre-filled with K copies of the first frame
and every timed frame runs at the steady state of a long video (K + 1 canvases). `--from-start` times the
first frames instead (1, 2, ... canvases).

    python benchmarks/bench_video.py                                   # small and released (ViT-L) presets
    python benchmarks/bench_video.py --presets seggpt-vit-small --frames 20 --memory 8
    python benchmarks/bench_video.py --presets seggpt-vit-large --frames 1 --warmup 0   # slow on a CPU
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from seggpt.inference.video import VideoSegmenter
from seggpt.model.config import get_preset
from seggpt.model.seggpt import build_seggpt

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def make_video(num_frames: int, size: tuple[int, int]) -> tuple[list[np.ndarray], np.ndarray]:
    """(num_frames) (H, W, 3) uint8 frames of a square moving on noise, and the first frame's 2-object mask."""
    H, W = size
    rng = np.random.default_rng(0)
    frames = []
    for t in range(num_frames):
        rgb = rng.integers(0, 80, (H, W, 3), dtype=np.uint8)
        rgb[H // 4 : H // 2, W // 8 + 4 * t : W // 4 + 4 * t] = (230, 60, 40)
        frames.append(rgb)
    mask = np.zeros(size, dtype=np.int64)
    mask[H // 4 : H // 2, W // 8 : W // 4] = 1
    mask[3 * H // 4 :, W // 2 :] = 2
    return frames, mask


def bench(preset: str, args: argparse.Namespace) -> dict[str, float | int | str]:
    """Time `args.frames` steps of one preset; returns one table row."""
    config = get_preset(preset)
    torch.manual_seed(0)
    model = build_seggpt(config, device=args.device)
    segmenter = VideoSegmenter(model, memory=args.memory, device=args.device, dtype=DTYPES[args.dtype])
    frames, mask = make_video(1 + args.warmup + args.frames, tuple(args.size))
    state = segmenter.init_state(frames[0], mask)
    if not args.from_start and state.anchor_image is not None and state.anchor_target is not None:
        for _ in range(args.memory):  # steady state: a full memory (see the module docstring)
            state.memory_images.append(state.anchor_image)
            state.memory_targets.append(state.anchor_target)
            state.memory_frames.append(0)
    for frame in frames[1 : 1 + args.warmup]:
        segmenter.step(state, frame)
    prompts, start = 0, time.perf_counter()
    for frame in frames[1 + args.warmup :]:
        prompts += state.num_prompts
        segmenter.step(state, frame)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / args.frames
    H, W = config.image_size
    return {
        "preset": preset,
        "canvas": f"{H}x{W}",
        "prompts": prompts / args.frames,
        "frames": args.frames,
        "s/frame": seconds,
        "frames/s": 1.0 / seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--presets", nargs="+", default=["seggpt-vit-small", "seggpt-vit-large"])
    parser.add_argument("--frames", type=int, default=5, help="timed frames per preset")
    parser.add_argument("--warmup", type=int, default=1, help="untimed frames before timing")
    parser.add_argument("--memory", type=int, default=8, help="K recent frames (the first frame is also kept)")
    parser.add_argument("--from-start", action="store_true", help="do not pre-fill the memory")
    parser.add_argument("--size", nargs=2, type=int, default=[480, 854], metavar=("H", "W"), help="frame size")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=tuple(DTYPES), default="float32")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args()
    if args.frames < 1:
        parser.error("--frames must be at least 1")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = (
        torch.cuda.get_device_name() if args.device.startswith("cuda") else f"cpu, {torch.get_num_threads()} threads"
    )
    print(f"VideoSegmenter.step, random weights, {args.dtype}, {device}, frames {args.size[0]}x{args.size[1]}")
    print(f"{'preset':<18} {'canvas':>8} {'prompts':>8} {'frames':>7} {'s/frame':>9} {'frames/s':>9}")
    for preset in args.presets:
        row = bench(preset, args)
        print(
            f"{row['preset']:<18} {row['canvas']:>8} {row['prompts']:>8.1f} {row['frames']:>7} "
            f"{row['s/frame']:>9.3f} {row['frames/s']:>9.3f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
