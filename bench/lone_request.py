"""Does a lone request cost what a plain endpoint's does? Servers side by side, wrk windows alternated.

    python -m bench.lone_request [--rounds 12] [--seconds 3] [--concurrency 1 64] [--before DIR]
                                 [--data DIR] [--loadtest PATH]

Serves the sentiment bundle three ways at once: seqserve with 1 worker; a plain FastAPI `async def`
endpoint calling the same bundle's runner one request at a time (no queue, no batching); and, with
`--before`, seqserve from another checkout (the code before a change). Every round drives each server
for a few seconds at each concurrency, in rotating order, so the machine's drift (large on shared
virtual machines) falls on all of them alike. Bodies: SST-2 dev sentences, one per request. Prints the
median p50 and rps of each, and the median of the per-round ratios to the plain endpoint (p50) and to
`--before` (rps).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
from pathlib import Path

from bench.common import REPO, Server, Wrk, arguments, dev_texts, start_server, table_head, table_row, wrk

PLAIN = "plain endpoint"


def serve_plain(port: int) -> None:
    """The baseline: the bundle's runner called inline by a plain FastAPI endpoint."""
    import torch
    import uvicorn
    from fastapi import FastAPI

    from model.runtime import load_bundle

    torch.set_num_threads(1)  # as seqserve's default SEQSERVE_TORCH_THREADS
    runner = load_bundle(REPO / "model" / "sentiment")
    app = FastAPI()

    @app.post("/classify")
    async def classify(body: dict) -> dict:
        return dataclasses.asdict(runner.predict([body["text"]])[0])

    @app.get("/readyz")
    async def readyz() -> dict:
        return {}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")


def start_all(before: Path | None) -> dict[str, Server]:
    env = {"SEQSERVE_MODELS": "sentiment", "SEQSERVE_WORKERS": "1"}
    plain = [sys.executable, "-m", "bench.lone_request", "--serve-plain", "18081"]
    servers = {"seqserve": start_server(env, port=18080), PLAIN: start_server({}, port=18081, command=plain)}
    if before is not None:
        servers["seqserve before"] = start_server(env, port=18082, cwd=before)
    return servers


def measure(servers: dict[str, Server], load: Wrk, args: argparse.Namespace) -> dict[tuple[str, int], list[dict]]:
    for server in servers.values():
        load.run(f"{server.url}/classify", 16, 3)  # warm-up
    runs: dict[tuple[str, int], list[dict]] = {(name, c): [] for name in servers for c in args.concurrency}
    names = list(servers)
    for round_ in range(args.rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for concurrency in args.concurrency:
            for name in order:
                runs[name, concurrency].append(load.run(f"{servers[name].url}/classify", concurrency, args.seconds))
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
    return runs


def report(runs: dict[tuple[str, int], list[dict]], concurrency: list[int]) -> None:
    names = list(dict.fromkeys(name for name, _ in runs))
    table_head("server", *(f"c={c} p50 ms · rps" for c in concurrency), align="l" + "r" * len(concurrency))
    for name in names:
        cells = []
        for c in concurrency:
            p50, rps = (statistics.median(r[key] for r in runs[name, c]) for key in ("p50_ms", "rps"))
            cells.append(f"{p50:.2f} · {rps:,.0f}")
        table_row(name, *cells)
    errors = sum(r["non2xx"] + r["socket_errors"] for rows in runs.values() for r in rows)
    print(f"\nerrors: {errors}")
    for c in concurrency:
        print(f"c={c}: seqserve p50 / plain p50 {ratios(runs, c, PLAIN, 'p50_ms')}")
        if ("seqserve before", c) in runs:
            print(f"c={c}: seqserve rps / before rps {ratios(runs, c, 'seqserve before', 'rps')}")


def ratios(runs: dict[tuple[str, int], list[dict]], concurrency: int, other: str, key: str) -> str:
    """Round-by-round ratios of seqserve to `other`: their median, quartiles, and rounds at or below 1."""
    values = sorted(a[key] / b[key] for a, b in zip(runs["seqserve", concurrency], runs[other, concurrency]))
    low, _, high = statistics.quantiles(values, n=4)
    return (f"median {statistics.median(values):.3f}, quartiles {low:.3f}–{high:.3f}, "
            f"≤ 1 in {sum(v <= 1 for v in values)} of {len(values)} rounds")


def main() -> None:
    parser = arguments(__doc__, loadtest=True)
    parser.add_argument("--rounds", type=int, default=12, help="at least 2 (the ratios report quartiles)")
    parser.add_argument("--seconds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--before", type=Path, help="another checkout of seqserve to serve beside this one")
    parser.add_argument("--serve-plain", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_plain:
        serve_plain(args.serve_plain)
        return
    load = wrk(args, [{"text": text, "models": ["sentiment"]} for text in dev_texts(args.data, "sst2")])
    servers = start_all(args.before)
    try:
        runs = measure(servers, load, args)
    finally:
        for server in servers.values():
            server.stop()
    report(runs, args.concurrency)


if __name__ == "__main__":
    main()
