"""Soak: steady load for minutes with resident memory sampled each second; plots the curve.

    python bench/soak.py [--minutes 10] [--concurrency 16] [--warmup 60] [--out bench/results/soak_rss.png]

Memory that grows per request shows up here as a slope. Reports RSS after warm-up, at the end, the
growth between them (the target is under 5 %), requests served and errors.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from common import DEFAULT_DATA, LOADTEST, REPO, start_server, write_bodies  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--warmup", type=float, default=60, help="seconds excluded from the growth figure")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "soak_rss.png")
    args = parser.parse_args()

    bodies = write_bodies(args.data, Path(tempfile.mkdtemp()) / "bodies.jsonl")
    server = start_server({"SEQSERVE_WORKERS": str(args.workers), "SEQSERVE_MODELS": "atis,sentiment,snips"})
    seconds = int(args.minutes * 60)
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    started = time.perf_counter()

    def sample() -> None:
        while not stop.wait(1.0):
            samples.append((time.perf_counter() - started, server.rss_mb()))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = subprocess.run(
            ["bash", str(LOADTEST), f"{server.url}/classify", str(bodies), str(args.concurrency), str(seconds)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip().splitlines()[-1]
        stop.set()
        sampler.join()
    finally:
        server.stop()

    after_warmup = [rss for t, rss in samples if t >= args.warmup]
    base, end = after_warmup[0], sum(after_warmup[-10:]) / len(after_warmup[-10:])
    growth = 100 * (end - base) / base
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
    print(f"load: {result}")
    print(f"RSS after warm-up {base:.0f} MB, at the end {end:.0f} MB: growth {growth:+.2f} % (target < 5 %)")
    print(f"curve: {args.out.relative_to(REPO)}")


if __name__ == "__main__":
    main()
