"""Soak: steady load for minutes with resident memory sampled each second; plots the curve.

    python -m bench.soak [--minutes 10] [--concurrency 16] [--warmup 60] [--out bench/results/soak_rss.png]

Memory that grows per request shows up here as a slope. Reports RSS after warm-up, at the end, the
growth between them (the target is under 5 %), requests served and errors.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench.common import REPO, RESULTS, arguments, mixed_bodies, start_server, wrk


def plot(samples: list[tuple[float, float]], growth: float, args: argparse.Namespace) -> None:
    args.out.parent.mkdir(parents=True, exist_ok=True)
    figure, axis = plt.subplots(figsize=(8, 3.5))
    axis.plot([t for t, _ in samples], [rss for _, rss in samples], linewidth=1)
    axis.axvline(args.warmup, color="grey", linestyle=":", label="end of warm-up")
    axis.set_xlabel("seconds under load")
    axis.set_ylabel("RSS, MB (all processes)")
    axis.set_title(f"seqserve soak: c={args.concurrency}, {args.minutes:g} min, growth after warm-up {growth:+.1f} %")
    axis.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(args.out, dpi=120)


def main() -> None:
    parser = arguments(__doc__, loadtest=True)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=60, help="seconds excluded from the growth figure")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "soak_rss.png")
    args = parser.parse_args()

    load = wrk(args, mixed_bodies(args.data))
    server = start_server({"SEQSERVE_WORKERS": str(args.workers), "SEQSERVE_MODELS": "atis,sentiment,snips"})
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        while not stop.wait(1.0):
            samples.append((time.perf_counter() - started, server.rss_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = load.run(f"{server.url}/classify", args.concurrency, int(args.minutes * 60))
        stop.set()
        sampler.join()
    finally:
        server.stop()

    after_warmup = [rss for t, rss in samples if t >= args.warmup]
    base, end = after_warmup[0], sum(after_warmup[-10:]) / len(after_warmup[-10:])
    growth = 100 * (end - base) / base
    plot(samples, growth, args)
    print(f"load: {json.dumps(result)}")
    print(f"RSS after warm-up {base:.0f} MB, at the end {end:.0f} MB: growth {growth:+.2f} % (target < 5 %)")
    print(f"curve: {os.path.relpath(args.out, REPO)}")


if __name__ == "__main__":
    main()
