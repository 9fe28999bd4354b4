"""Load benchmark of the HTTP service with real dev sentences; prints a markdown table.

    python bench/serve.py [--workers N] [--device cpu|cuda] [--concurrency 1 16 64] [--seconds 10]
                          [--unbatched] [--half] [--data ../shared/data]

Starts `python -m app` for each configuration, waits for /readyz (start-to-ready time), warms up, then
drives POST /classify with `loadtest.sh` (wrk, closed loop, keep-alive) at each concurrency. Bodies are
real dev sentences, one bundle per request: half SST-2 → `sentiment`, half ATIS → `atis`. With
`--unbatched` the same run also measures SEQSERVE_MAX_BATCH_SIZE=1, the one-at-a-time baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
PEERS_CPU = {  # shared/bench/PEERS.md, 2-core CPU: rps · p99 ms (c=1: p50 ms)
    "FastAPI async, one at a time": {1: (1040, 0.9), 16: (1130, 27), 64: (1129, 65)},
    "LitServe batch 32, 5 ms": {1: (140, 7.1), 16: (845, 28), 64: (1006, 92)},
}
PEERS_GPU = {  # shared/bench/PEERS.md, one H100
    "FastAPI async, 8 workers": {1: (488, 1.9), 16: (1729, 27), 64: (1791, 87), 256: (1737, 434)},
    "LitServe batch 64, 4 API servers": {1: (123, 7.7), 16: (1356, 34), 64: (3011, 67), 256: (3108, 167)},
}


def write_bodies(data: Path, path: Path, count: int = 2000) -> None:
    atis = (data / "atis" / "dev" / "seq.in").read_text(encoding="utf-8").split("\n")
    sst = [line.split("\t")[0] for line in (data / "sst2" / "dev.tsv").read_text(encoding="utf-8").split("\n")[1:]]
    atis, sst = [t.strip() for t in atis if t.strip()], [t for t in sst if t.strip()]
    rng = random.Random(0)
    lines = []
    for i in range(count):
        if i % 2:
            lines.append(json.dumps({"text": rng.choice(atis), "models": ["atis"]}))
        else:
            lines.append(json.dumps({"text": rng.choice(sst), "models": ["sentiment"]}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def start_server(port: int, env: dict[str, str]) -> tuple[subprocess.Popen, float]:
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "app"],
        cwd=REPO,
        env={**os.environ, **env, "SEQSERVE_PORT": str(port), "SEQSERVE_HOST": "127.0.0.1", "SEQSERVE_LOG_LEVEL": "warning"},
    )
    url = f"http://127.0.0.1:{port}/readyz"
    while True:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.05)


def load(url: str, bodies: Path, concurrency: int, seconds: int) -> dict:
    script = REPO.parent / "shared" / "bench" / "loadtest.sh"
    out = subprocess.run(
        ["bash", str(script), url, str(bodies), str(concurrency), str(seconds)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def tree_rss_mb(pid: int) -> float:
    """Peak resident memory (VmHWM) of the server and its worker processes, in MB."""
    pids = [pid] + [int(p) for p in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    total = 0
    for one in pids:
        try:
            status = Path(f"/proc/{one}/status").read_text()
        except FileNotFoundError:
            continue
        total += int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM")))
    return total / 1024


def run_config(label: str, env: dict[str, str], args: argparse.Namespace, bodies: Path) -> list[dict]:
    port = 18000 + random.Random(label).randrange(1000)
    process, ready_s = start_server(port, env)
    url = f"http://127.0.0.1:{port}/classify"
    rows = []
    try:
        load(url, bodies, 16, 3)  # warm-up: connections, caches, allocator
        for concurrency in args.concurrency:
            result = load(url, bodies, concurrency, args.seconds)
            rows.append({"config": label, "c": concurrency, **result})
            print(f"  {label} c={concurrency}: {result}", file=sys.stderr)
        rss = tree_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(60)
    for row in rows:
        row["ready_s"], row["rss_mb"] = ready_s, rss
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--unbatched", action="store_true", help="also run with SEQSERVE_MAX_BATCH_SIZE=1")
    parser.add_argument("--half", action="store_true")
    parser.add_argument("--max-batch-size", type=int)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args()

    bodies = Path(tempfile.mkdtemp()) / "bodies.jsonl"
    write_bodies(args.data, bodies)
    base = {"SEQSERVE_WORKERS": str(args.workers), "SEQSERVE_DEVICE": args.device, "SEQSERVE_MODELS": "atis,sentiment"}
    if args.half:
        base["SEQSERVE_HALF"] = "true"
    if args.max_batch_size:
        base["SEQSERVE_MAX_BATCH_SIZE"] = str(args.max_batch_size)
    configs = [(f"seqserve {args.workers}w batched", base)]
    if args.unbatched:
        configs.append((f"seqserve {args.workers}w batch=1", {**base, "SEQSERVE_MAX_BATCH_SIZE": "1"}))
    rows = [row for label, env in configs for row in run_config(label, env, args, bodies)]

    print(f"| server ({args.device}) | " + " | ".join(f"c={c} rps · p50 · p99 ms" for c in args.concurrency) + " | errors |")
    print("| --- |" + " --- |" * (len(args.concurrency) + 1))
    for label, _ in configs:
        mine = [row for row in rows if row["config"] == label]
        cells = [f"{row['rps']:,.0f} · {row['p50_ms']:.1f} · {row['p99_ms']:.1f}" for row in mine]
        errors = sum(row["non2xx"] + row["socket_errors"] for row in mine)
        print(f"| {label} | " + " | ".join(cells) + f" | {errors} |")
    peers = PEERS_GPU if args.device.startswith("cuda") else PEERS_CPU
    for name, figures in peers.items():
        cells = [f"{figures[c][0]:,} · – · {figures[c][1]}" if c in figures else "–" for c in args.concurrency]
        print(f"| peer: {name} | " + " | ".join(cells) + " | 0 |")
    for label, _ in configs:
        row = next(row for row in rows if row["config"] == label)
        print(f"\n{label}: start to ready {row['ready_s']:.1f} s, peak RSS {row['rss_mb']:.0f} MB (all processes)")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
