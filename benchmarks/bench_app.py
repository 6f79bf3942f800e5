"""Load check of `seggpt app`: N concurrent image requests through gradio_client against one app on localhost.

Every answer's label PNG is checked against `seggpt.Segmenter` on the same files (exactly equal); the script
reports requests/s (N / wall time from the first submit to the last answer) and the p50/p95 latency of one
request (submit to answer, queue wait included).

    python benchmarks/bench_app.py                                   # 16 requests, concurrency 1, seggpt-default
    python benchmarks/bench_app.py --requests 16 --concurrency 2 --output benchmarks/results/bench_app_cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from gradio_client import Client, handle_file
from PIL import Image

from seggpt import Segmenter, load_model
from seggpt.app.layout import EXAMPLES, build_app, launch


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def request(client: Client, query: Path) -> tuple[float, np.ndarray]:
    """One Segment click of the image tab (the shapes prompt 0 and one query): (latency s, label map)."""
    prompt = [handle_file(EXAMPLES / "prompt_0.png"), None, handle_file(EXAMPLES / "prompt_0_mask.png")]
    start = time.perf_counter()
    _, _, files, _ = client.predict(
        *prompt, *[None] * 6, [handle_file(query)], "semantic", "feature", "stretch", api_name="/segment_images"
    )
    latency = time.perf_counter() - start
    label_png = next(f for f in files if Path(f).name == f"{query.stem}.png")
    return latency, np.asarray(Image.open(label_png))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=16, help="concurrent requests (default 16)")
    parser.add_argument("--concurrency", type=int, default=1, help="the app's --concurrency (default 1)")
    parser.add_argument("--model", default="seggpt-default", help="checkpoint name or path (default seggpt-default)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", type=Path, help="also write the results as JSON here")
    args = parser.parse_args()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

    queries = sorted((EXAMPLES / "queries").glob("*.png"))
    model = load_model(args.model, device=args.device)
    segmenter = Segmenter(model, seg_type="semantic")
    segmenter.set_prompts([EXAMPLES / "prompt_0.png"], [EXAMPLES / "prompt_0_mask.png"])
    expected = {q: p.labels for q, p in zip(queries, segmenter.segment(queries))}

    load_before = os.getloadavg()[0]
    demo = build_app(model)
    url = launch(demo, port=free_port(), concurrency=args.concurrency, block=False)
    try:
        clients = [Client(url, verbose=False) for _ in range(args.requests)]  # one per simulated user
        request(clients[0], queries[0])  # warm-up: first-call costs stay out of the numbers
        work = [queries[i % len(queries)] for i in range(args.requests)]
        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.requests) as pool:
            answers = list(pool.map(request, clients, work))
        wall = time.perf_counter() - start
    finally:
        demo.close()
    wrong = [q.name for q, (_, labels) in zip(work, answers) if not np.array_equal(labels, expected[q])]
    latencies = np.array([latency for latency, _ in answers])
    result = {
        "requests": args.requests,
        "concurrency": args.concurrency,
        "model": args.model,
        "device": args.device,
        "cpu_threads": os.cpu_count(),
        "load_average_1min_before": round(load_before, 2),  # other work on the machine slows every request
        "correct": args.requests - len(wrong),
        "wall_s": round(wall, 3),
        "requests_per_s": round(args.requests / wall, 3),
        "latency_p50_s": round(float(np.percentile(latencies, 50)), 3),
        "latency_p95_s": round(float(np.percentile(latencies, 95)), 3),
    }
    print(json.dumps(result, indent=2))
    if args.output:
        args.output.write_text(json.dumps(result, indent=2) + "\n")
    if wrong:
        raise SystemExit(f"bench_app: {len(wrong)} answers differ from Segmenter: {wrong}")


if __name__ == "__main__":
    main()
