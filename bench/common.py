"""What the benchmark scripts share: start the service, write request bodies, drive wrk, read RSS."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # scripts run as `python bench/x.py` from a checkout
    sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("SEQSERVE_BENCH_SHARED", REPO.parent / "shared"))  # data and loadtest.sh
LOADTEST = SHARED / "bench" / "loadtest.sh"
DEFAULT_DATA = SHARED / "data"


def write_bodies(data: Path, path: Path, count: int = 2000) -> Path:
    """Real dev sentences, one bundle per request: half SST-2 → sentiment, half ATIS → atis."""
    atis = [t.strip() for t in (data / "atis" / "dev" / "seq.in").read_text(encoding="utf-8").split("\n") if t.strip()]
    sst_rows = (data / "sst2" / "dev.tsv").read_text(encoding="utf-8").split("\n")[1:]
    sst = [row.split("\t")[0] for row in sst_rows if row.strip()]
    rng = random.Random(0)
    lines = [
        json.dumps({"text": rng.choice(atis), "models": ["atis"]})
        if i % 2
        else json.dumps({"text": rng.choice(sst), "models": ["sentiment"]})
        for i in range(count)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Server:
    process: subprocess.Popen
    url: str
    ready_s: float

    def stop(self) -> int:
        self.process.terminate()
        return self.process.wait(60)

    def pids(self) -> list[int]:
        children = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [self.process.pid, *(int(pid) for pid in children.split())]

    def rss_mb(self, peak: bool = False) -> float:
        """Resident memory of the server and its workers (VmHWM when `peak`), in MB."""
        field = "VmHWM" if peak else "VmRSS"
        total = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except FileNotFoundError:
                continue
            total += int(next(line.split()[1] for line in status.splitlines() if line.startswith(field)))
        return total / 1024

    def alive(self) -> bool:
        try:
            return self.process.poll() is None and httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False


def start_server(
    env: dict[str, str], port: int = 18080, cwd: Path = REPO, command: list[str] | None = None
) -> Server:
    """`python -m app` (from the checkout `cwd`, or another `command` that serves /readyz) with SEQSERVE_*
    overrides; returns once /readyz answers 200."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command or [sys.executable, "-m", "app"],
        cwd=cwd,
        env={
            **os.environ,
            "SEQSERVE_HOST": "127.0.0.1",
            "SEQSERVE_PORT": str(port),
            "SEQSERVE_LOG_LEVEL": "warning",
            **env,
        },
    )
    url = f"http://127.0.0.1:{port}"
    while True:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return Server(process, url, time.perf_counter() - started)
        except httpx.HTTPError:
            pass
        time.sleep(0.05)


def wrk(url: str, bodies: Path, concurrency: int, seconds: float) -> dict:
    """One closed-loop wrk run (keep-alive, one thread) through loadtest.sh; its JSON summary."""
    out = subprocess.run(
        ["bash", str(LOADTEST), url, str(bodies), str(concurrency), str(int(seconds))],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]
