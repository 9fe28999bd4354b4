"""What the benches share, so each one holds only its own study and they all read data, start the
service, drive load and print tables the same way.

Data: every bench takes the datasets folder from `--data` (or its positional data argument), by default
`$SEQSERVE_DATA` (the variable the tests and CI read), else `../shared/data` beside the checkout. wrk
runs through `loadtest.sh`, named by `--loadtest`, by default `bench/loadtest.sh` in the folder that
holds the data folder (`../shared/bench/loadtest.sh` beside `../shared/data`). Servers listen on
127.0.0.1 only, and load goes only there.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson

from training.table_data import read_labelled_table
from training.tagging_data import read_tagging

CONTENT_LENGTH = re.compile(rb"content-length: *(\d+)", re.IGNORECASE)
REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("SEQSERVE_DATA", REPO.parent / "shared" / "data"))
RESULTS = REPO / "bench" / "results"  # figures worth committing (the README shows them)
DEV = {"atis": ("atis/dev", True), "snips": ("snips/dev", True), "sst2": ("sst2/dev.tsv", False)}  # (path, tagging)
PROBE = {"text": "show me flights from boston to denver tomorrow morning", "models": ["atis"]}  # one short request


def arguments(doc: str, data: bool = True, loadtest: bool = False) -> argparse.ArgumentParser:
    """A bench's parser: its module docstring as help, `--data` and, for benches that drive wrk, `--loadtest`."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if data:
        parser.add_argument("--data", type=Path, default=DATA,
                            help="datasets folder (default: $SEQSERVE_DATA, else ../shared/data)")
    if loadtest:
        parser.add_argument("--loadtest", type=Path, help="wrk driver (default: DATA/../bench/loadtest.sh)")
    return parser


def read_texts(path: Path, tagging: bool) -> list[str]:
    """The texts of a tagging folder or file, or of a labelled table, read as training reads them."""
    if tagging:
        return [sentence.text for sentence in read_tagging(path)]
    return [example.text for example in read_labelled_table(path)]


def dev_texts(data: Path, name: str) -> list[str]:
    """The dev sentences of one dataset under `data`: `atis`, `snips` or `sst2`."""
    path, tagging = DEV[name]
    return read_texts(data / path, tagging)


def mixed_bodies(data: Path, count: int = 2000) -> list[dict]:
    """Real dev sentences, one bundle per request: half SST-2 → sentiment, half ATIS → atis (seeded)."""
    atis, sst2 = dev_texts(data, "atis"), dev_texts(data, "sst2")
    rng = random.Random(0)
    return [
        {"text": rng.choice(atis), "models": ["atis"]} if i % 2 else {"text": rng.choice(sst2), "models": ["sentiment"]}
        for i in range(count)
    ]


def body_file(bodies: list[dict]) -> Path:
    """`bodies` as JSON lines in a new temporary folder (what loadtest.sh rotates through)."""
    path = Path(tempfile.mkdtemp(prefix="seqserve-bench-")) / "bodies.jsonl"
    path.write_text("".join(json.dumps(body) + "\n" for body in bodies), encoding="utf-8")
    return path


@dataclass(frozen=True)
class Wrk:
    """Closed-loop load from wrk through `loadtest.sh` (keep-alive, one thread), rotating through `bodies`."""

    script: Path
    bodies: Path

    def run(self, url: str, concurrency: int, seconds: float) -> dict:
        """One run; loadtest.sh's JSON summary (requests, seconds, rps, p50/p90/p99/max ms, non2xx,
        socket_errors)."""
        out = subprocess.run(
            ["bash", str(self.script), url, str(self.bodies), str(concurrency), str(int(seconds))],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout.strip().splitlines()[-1])


def wrk(args: argparse.Namespace, bodies: list[dict]) -> Wrk:
    """The wrk driver `args` name (`--loadtest`, else beside `--data`), rotating through `bodies`."""
    return Wrk(args.loadtest or args.data.parent / "bench" / "loadtest.sh", body_file(bodies))


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
            # a process that is exiting (or a zombie) has no memory lines left
            total += sum(int(line.split()[1]) for line in status.splitlines() if line.startswith(field))
        return total / 1024

    def alive(self) -> bool:
        try:
            return self.process.poll() is None and httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False


def free_port() -> int:
    """A port nothing listens on now, so a bench never measures a server someone else left on a fixed one."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(
    env: dict[str, str], port: int = 18080, cwd: Path = REPO, command: list[str] | None = None
) -> Server:
    """`python -m app` (from the checkout `cwd`, or another `command` that serves /readyz) on 127.0.0.1
    with SEQSERVE_* overrides; returns once /readyz answers 200."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        raise SystemExit(f"port {port} is taken: the bench would measure whatever listens there")
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


def raw_request(path: str, body: dict) -> bytes:
    """A whole HTTP/1.1 POST of a JSON body, ready to write to a kept-alive socket: benches that drive load
    from Python use a raw socket rather than an HTTP library, to take little of the CPU the server shares."""
    payload = orjson.dumps(body)
    head = (f"POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\n\r\n")
    return head.encode() + payload


async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, bytes, bool]:
    """One request on a kept-alive connection: status, body, and whether the server closes it after."""
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = CONTENT_LENGTH.search(head)
    body = await reader.readexactly(int(length.group(1)) if length else 0)
    return int(head[9:12]), body, b"connection: close" in head.lower()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


def median_ms(call: Callable[[], object], repeats: int = 5) -> float:
    """Median wall time of `repeats` calls, in milliseconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def table_head(*columns: str, align: str) -> None:
    """Print a Markdown table's header and rule; `align` has a letter a column: `l` left, `r` right."""
    table_row(*columns)
    table_row(*("---:" if side == "r" else "---" for side in align))


def table_row(*cells: object) -> None:
    print("| " + " | ".join(str(cell) for cell in cells) + " |")
