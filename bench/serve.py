"""Throughput and latency of the HTTP service with real dev sentences; prints a markdown table.

    python -m bench.serve [--workers N] [--device cpu|cuda] [--concurrency 1 16 64 256] [--seconds 10]
                          [--unbatched] [--half] [--max-batch-size N] [--data DIR] [--loadtest PATH]

For each configuration it starts `python -m app`, measures start-to-ready, warms up, then drives
POST /classify with wrk (`loadtest.sh`: closed loop, keep-alive) at each concurrency. Bodies are real
dev sentences, one bundle per request: half SST-2 → `sentiment`, half ATIS → `atis`. `--unbatched` also
runs SEQSERVE_MAX_BATCH_SIZE=1 in the same run: the one-request-at-a-time baseline on the same machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.common import Wrk, arguments, mixed_bodies, start_server, table_head, table_row, wrk

PEERS = {  # shared/bench/PEERS.md: {concurrency: (rps, p50 ms at c=1 else p99 ms)}
    "cpu": {
        "peer: FastAPI async, one at a time": {1: (1040, 0.9), 16: (1130, 27), 64: (1129, 65)},
        "peer: LitServe batch 32, 5 ms": {1: (140, 7.1), 16: (845, 28), 64: (1006, 92)},
    },
    "cuda": {
        "peer: FastAPI async, 8 workers": {1: (488, 1.9), 16: (1729, 27), 64: (1791, 87), 256: (1737, 434)},
        "peer: LitServe batch 64, 4 API servers": {1: (123, 7.7), 16: (1356, 34), 64: (3011, 67), 256: (3108, 167)},
    },
}


def run_config(label: str, env: dict[str, str], args: argparse.Namespace, load: Wrk) -> dict:
    server = start_server(env)
    url = f"{server.url}/classify"
    try:
        load.run(url, 16, 3)  # warm-up: connections, allocator, TorchScript profiling
        rows = {}
        for concurrency in args.concurrency:
            rows[concurrency] = load.run(url, concurrency, args.seconds)
            print(f"  {label} c={concurrency}: {rows[concurrency]}", file=sys.stderr)
        rss = server.rss_mb(peak=True)
    finally:
        server.stop()
    return {"label": label, "rows": rows, "ready_s": server.ready_s, "rss_mb": rss}


def cell(rps: float, p50: float | None, p99: float | None) -> str:
    return f"{rps:,.0f} · {p50 if p50 is not None else '–'} · {p99 if p99 is not None else '–'}"


def configs(args: argparse.Namespace) -> list[tuple[str, dict[str, str]]]:
    """(label, SEQSERVE_* overrides) of each server to measure."""
    base = {"SEQSERVE_WORKERS": str(args.workers), "SEQSERVE_DEVICE": args.device, "SEQSERVE_MODELS": "atis,sentiment"}
    if args.half:
        base["SEQSERVE_HALF"] = "true"
    if args.max_batch_size:
        base["SEQSERVE_MAX_BATCH_SIZE"] = str(args.max_batch_size)
    configs = [(f"seqserve, {args.workers} worker(s), batched", base)]
    if args.unbatched:
        # the queue bound defaults to 8 batches: keep the batched run's bound, so only batching differs
        unbatched = {**base, "SEQSERVE_MAX_BATCH_SIZE": "1", "SEQSERVE_MAX_QUEUE": str(8 * (args.max_batch_size or 32))}
        configs.append((f"seqserve, {args.workers} worker(s), batch size 1", unbatched))
    return configs


def report(results: list[dict], args: argparse.Namespace) -> None:
    header = [f"c={c} rps · p50 · p99 ms" for c in args.concurrency]
    table_head(f"server ({args.device}{', fp16' if args.half else ''})", *header, "errors", align="l" * (len(header) + 2))
    for result in results:
        rows = result["rows"]
        cells = [cell(rows[c]["rps"], rows[c]["p50_ms"], rows[c]["p99_ms"]) for c in args.concurrency]
        errors = sum(rows[c]["non2xx"] + rows[c]["socket_errors"] for c in args.concurrency)
        table_row(result["label"], *cells, errors)
    device = "cuda" if args.device.startswith("cuda") else "cpu"
    for name, figures in PEERS[device].items():
        cells = [
            cell(figures[c][0], figures[c][1] if c == 1 else None, None if c == 1 else figures[c][1])
            if c in figures
            else "–"
            for c in args.concurrency
        ]
        table_row(name, *cells, 0)
    print()
    for result in results:
        print(f"{result['label']}: start to ready {result['ready_s']:.1f} s, peak RSS {result['rss_mb']:.0f} MB (all processes)")


def main() -> None:
    parser = arguments(__doc__, loadtest=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--unbatched", action="store_true", help="also run with SEQSERVE_MAX_BATCH_SIZE=1")
    parser.add_argument("--half", action="store_true")
    parser.add_argument("--max-batch-size", type=int)
    parser.add_argument("--json", type=Path, help="also write the measurements as JSON here")
    args = parser.parse_args()
    load = wrk(args, mixed_bodies(args.data))
    results = [run_config(label, env, args, load) for label, env in configs(args)]
    report(results, args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
