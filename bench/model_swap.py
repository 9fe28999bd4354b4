"""A new model version published into the live repository under load: does any request fail, when does
the new version answer, does latency or memory suffer?

    python -m bench.model_swap [--workers 1 2] [--swaps 10] [--clients 32] [--steady-s 10] [--poll-s 0.5]

For each worker count, `python -m app` serves a temporary repository that holds `sentiment` as version
folder `A` (a copy of model/sentiment), polled every `--poll-s`, with the control endpoints on behind an
admin key. `--clients` closed-loop clients, each on its own keep-alive connection to 127.0.0.1, send
SST-2 dev sentences to POST /classify throughout, in three phases:

  steady   nothing changes (the reference p99)
  swaps    version B (the same weights, another manifest `version`, created later, so it becomes the
           default) is published the way README says (copied in under a hidden name, then renamed) and
           then removed (renamed away, then deleted), `--swaps` times: A → B → A …
  corrupt  B with one byte of model.pt flipped is published once, held, and removed

Every answer other than 200, and every broken connection, counts as failed. Each answer's
`model_versions` says which version answered, so every change shows the time from the rename to the
first answer of the new version and to the last answer of the old one (with several workers, each
loads on its own poll: the last old answer is when the slowest worker switched). Resident memory of the
server and its workers is read before the swaps and after them. Prints Markdown tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import functools
import os
import re
import secrets
import shutil
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import orjson

from bench.common import (
    REPO,
    Server,
    arguments,
    dev_texts,
    exchange,
    percentile,
    raw_request,
    start_server,
    table_head,
    table_row,
)
from model.manifest import read_manifest, restamp

NAME = "sentiment"
FAILED_LOADS = re.compile(r'^seqserve_model_loads_total\{[^}]*result="failed"[^}]*\} (\S+)$', re.MULTILINE)


@dataclass
class Traffic:
    """Every request sent: (sent, answered, version or None when it failed), seconds of the monotonic clock."""

    answers: list[tuple[float, float, str | None]] = field(default_factory=list)
    failures: collections.Counter = field(default_factory=collections.Counter)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    def between(self, start: float, end: float) -> list[tuple[float, float, str | None]]:
        return [answer for answer in self.answers if start <= answer[0] < end]


def requests(texts: list[str]) -> list[bytes]:
    """One `sentiment` request per text, ready to write to a socket."""
    return [raw_request("/classify", {"text": text, "models": [NAME]}) for text in texts]


async def client(port: int, bodies: list[bytes], offset: int, traffic: Traffic) -> None:
    """A closed loop on one keep-alive connection (a new one after the server closed or broke it): a raw
    socket rather than an HTTP library, so that the client takes little of the CPU it shares with the server."""
    connection: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    i = offset
    while not traffic.stop.is_set():
        request, i = bodies[i % len(bodies)], i + 1
        sent = time.monotonic()
        try:
            connection = connection or await asyncio.open_connection("127.0.0.1", port)
            status, body, closing = await exchange(*connection, request)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            traffic.failures[f"broken: {type(exc).__name__}"] += 1
            traffic.answers.append((sent, time.monotonic(), None))
            connection = None
            continue
        version = orjson.loads(body)["model_versions"][NAME] if status == 200 else None
        if status != 200:
            traffic.failures[f"answered {status}: {orjson.loads(body)['error']['message']}"] += 1
        traffic.answers.append((sent, time.monotonic(), version))
        if closing:
            connection[1].close()
            connection = None
    if connection is not None:
        connection[1].close()


@dataclass
class Change:
    """One publication or removal: which version should answer after it, and when it was done."""

    label: str
    old: str
    new: str
    at: float  # the rename, on the monotonic clock
    first_new: float | None = None  # seconds from the rename to the first answer of the new version
    last_old: float | None = None  # ... to the last answer of the old version (None: none after the rename)
    settled: bool = False  # the new version answered, and the old one stopped answering
    rss_mb: float = 0.0  # of the server and its workers, once settled


def bundle_copy(source: Path, target: Path, version: str | None = None) -> Path:
    """A copy of a bundle folder; with `version`, its manifest names that version, created now."""
    shutil.copytree(source, target)
    if version is not None:
        restamp(target, version)
    return target


def flip_a_byte(folder: Path) -> None:
    model = folder / "model.pt"
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))


def publish(build: Path, name_dir: Path, folder: str, corrupt: bool = False) -> float:
    """Copy in under a hidden name, then rename into place; returns the time of the rename."""
    staging = bundle_copy(build, name_dir / f".{folder}.tmp")
    if corrupt:
        flip_a_byte(staging)
    staging.rename(name_dir / folder)
    return time.monotonic()


def remove(name_dir: Path, folder: str) -> float:
    """Rename away (out of sight at once), then delete; returns the time of the rename."""
    hidden = name_dir / f".{folder}.old"
    (name_dir / folder).rename(hidden)
    at = time.monotonic()
    shutil.rmtree(hidden)
    return at


async def settled(traffic: Traffic, change: Change, quiet_s: float, timeout_s: float) -> None:
    """Wait until the new version has answered and the old one has not for `quiet_s`, noting when each
    did; after `timeout_s` the change is left unsettled (the old version was still answering)."""
    seen = len(traffic.answers)
    while seen and traffic.answers[seen - 1][1] >= change.at:  # answers are appended as they arrive
        seen -= 1
    first_new = last_old = None
    while time.monotonic() - change.at < timeout_s:
        await asyncio.sleep(0.1)
        fresh, seen = traffic.answers[seen:], len(traffic.answers)
        for _, answered, version in fresh:
            if version == change.new and first_new is None:
                first_new = answered
            elif version == change.old:
                last_old = answered
        change.first_new = None if first_new is None else first_new - change.at
        change.last_old = None if last_old is None else last_old - change.at
        if first_new is not None and time.monotonic() - (last_old or change.at) >= quiet_s:
            change.settled = True
            return


async def swaps(args: argparse.Namespace, run: Run, server: Server, repo: Path, builds: dict[str, Path]) -> None:
    """A → B → A …, `args.swaps` times, each change waited out before the next."""
    name_dir, versions = repo / NAME, {folder: manifest_version(path) for folder, path in builds.items()}
    for number in range(1, args.swaps + 1):
        for label, old, new, act in ((f"{number}: publish B", "A", "B", functools.partial(publish, builds["B"], name_dir, "B")),
                                     (f"{number}: remove B", "B", "A", functools.partial(remove, name_dir, "B"))):
            change = Change(label, versions[old], versions[new], await asyncio.to_thread(act))
            await settled(run.traffic, change, args.quiet_s, args.timeout_s)
            change.rss_mb = server.rss_mb()
            run.changes.append(change)


def manifest_version(bundle: Path) -> str:
    return read_manifest(bundle).version


@dataclass
class Refusal:
    """What the service said about the corrupted B, and what answered meanwhile."""

    reason: str | None
    failed_loads: float
    started: float
    ended: float


async def corrupt_phase(server: Server, key: str, workers: int, repo: Path, build: Path, hold_s: float) -> Refusal:
    """Publish a corrupted B, wait until every worker refused it (the failed-load counter), hold, remove."""
    headers = {"Authorization": f"Bearer {key}"}
    started = await asyncio.to_thread(publish, build, repo / NAME, "B", True)
    reason, failed = None, 0.0
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
        while time.monotonic() - started < 60 and (reason is None or failed < workers):
            await asyncio.sleep(0.2)
            listed = (await http.get("/repository", headers=headers)).json()["models"]
            reason = next((entry["reason"] for entry in listed if entry["folder"] == "B" and entry["state"] == "failed"),
                          reason)
            failed = sum(float(value) for value in FAILED_LOADS.findall((await http.get("/metrics")).text))
    await asyncio.sleep(hold_s)
    await asyncio.to_thread(remove, repo / NAME, "B")
    return Refusal(reason, failed, started, time.monotonic())


@dataclass
class Run:
    workers: int
    steady: tuple[float, float] = (0.0, 0.0)
    swapping: tuple[float, float] = (0.0, 0.0)
    changes: list[Change] = field(default_factory=list)
    rss_before: float = 0.0
    rss_after: float = 0.0
    refusal: Refusal | None = None
    connections: list[int] = field(default_factory=list)  # the clients' connections each worker holds
    traffic: Traffic = field(default_factory=Traffic)


async def drive(args: argparse.Namespace, run: Run, server: Server, key: str, repo: Path, builds: dict[str, Path]) -> None:
    """The three phases under one load."""
    port = int(server.url.rsplit(":", 1)[1])
    bodies = requests(dev_texts(args.data, "sst2"))
    tasks = []
    # Connections opened all at once all go to the worker that accepts first; one at a time under load,
    # each worker takes a share (the table shows how many each holds).
    for i in range(args.clients):
        tasks.append(asyncio.ensure_future(client(port, bodies, i * 97, run.traffic)))
        await asyncio.sleep(0.05)
    await asyncio.sleep(3)  # warm-up: connections, allocator; not counted
    run.connections = connections(server, port)
    started = time.monotonic()
    await asyncio.sleep(args.steady_s)
    run.steady = (started, time.monotonic())
    run.rss_before = server.rss_mb()
    await swaps(args, run, server, repo, builds)
    run.swapping = (run.steady[1], time.monotonic())
    await asyncio.sleep(2)  # what the last unload freed settles
    run.rss_after = server.rss_mb()
    run.refusal = await corrupt_phase(server, key, run.workers, repo, builds["B"], args.hold_s)
    run.traffic.stop.set()
    await asyncio.gather(*tasks)


def connections(server: Server, port: int) -> list[int]:
    """Established connections to `port` each worker process holds (from /proc: sockets by inode)."""
    local = f":{port:04X}"
    established = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(local) and fields[3] == "01":
            established.add(f"socket:[{fields[9]}]")
    held = [sum(1 for link in open_files(pid) if link in established) for pid in server.pids()]
    return [count for count in held if count]


def open_files(pid: int) -> list[str]:
    """What each file descriptor of a process points to (`socket:[INODE]` for a socket)."""
    links = []
    with contextlib.suppress(OSError):
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):  # closed meanwhile
                links.append(os.readlink(fd))
    return links


def measure(args: argparse.Namespace, workers: int) -> Run:
    """One server with `workers` workers over a fresh repository holding A."""
    root = Path(tempfile.mkdtemp(prefix="seqserve-swap-"))
    repo, source = root / "repo", REPO / "model" / NAME
    builds = {"A": bundle_copy(source, repo / NAME / "A"),
              "B": bundle_copy(source, root / "build" / "B", manifest_version(source) + "-b")}
    key = secrets.token_hex(16)
    env = {"SEQSERVE_MODEL_DIR": str(repo), "SEQSERVE_WORKERS": str(workers), "SEQSERVE_MODEL_POLL_S": str(args.poll_s),
           "SEQSERVE_MODEL_CONTROL": "true", "SEQSERVE_ADMIN_KEY": key}
    run = Run(workers)
    server = start_server(env, args.port)
    try:
        asyncio.run(drive(args, run, server, key, repo, builds))
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    return run


def latencies_ms(traffic: Traffic, span: tuple[float, float]) -> list[float]:
    return [(answered - sent) * 1000 for sent, answered, _ in traffic.between(*span)]


def failed(traffic: Traffic, span: tuple[float, float]) -> int:
    return sum(1 for *_, version in traffic.between(*span) if version is None)


def summary_table(runs: list[Run]) -> None:
    print("\n### Swaps under load\n")
    table_head("workers", "connections per worker", "requests", "failed", "changes seen", "steady p99 ms", "swaps p99 ms", "swaps / steady",
               "RSS before MB", "RSS after MB", "RSS growth MB", align="rrrrrrrrrrr")
    for run in runs:
        steady, swapping = percentile(latencies_ms(run.traffic, run.steady), 99), percentile(latencies_ms(run.traffic, run.swapping), 99)
        span = (run.steady[0], run.swapping[1])
        seen = sum(1 for change in run.changes if change.settled)
        table_row(run.workers, " + ".join(map(str, run.connections)), len(run.traffic.between(*span)), failed(run.traffic, span), f"{seen}/{len(run.changes)}",
                  f"{steady:.1f}", f"{swapping:.1f}", f"{swapping / steady:.2f}", f"{run.rss_before:.0f}",
                  f"{run.rss_after:.0f}", f"{run.rss_after - run.rss_before:+.0f}")


def seconds(value: float | None) -> str:
    return "none" if value is None else f"{value:.2f}"


def change_table(runs: list[Run]) -> None:
    print("\n### Each change: seconds from the rename to the first answer of the new version and to the last "
          "answer of the old one\n")
    table_head("workers", "change", "first new answer s", "last old answer s", "RSS after MB", align="rlrrr")
    for run in runs:
        for change in run.changes:
            last = seconds(change.last_old) if change.settled else "still answering"
            table_row(run.workers, change.label, seconds(change.first_new), last, f"{change.rss_mb:.0f}")
    print("\n| workers | change | first new answer s, median (max) | last old answer s, median (max) |")
    print("| ---: | --- | ---: | ---: |")
    for run in runs:
        for kind in ("publish", "remove"):
            picked = [change for change in run.changes if kind in change.label and change.settled]
            first = [change.first_new for change in picked]
            last = [change.last_old or 0.0 for change in picked]
            if picked:
                table_row(run.workers, f"{kind} B ({len(picked)})", f"{statistics.median(first):.2f} ({max(first):.2f})",
                          f"{statistics.median(last):.2f} ({max(last):.2f})")


def corrupt_table(runs: list[Run]) -> None:
    print("\n### A corrupted B (one byte of model.pt flipped), published, held and removed\n")
    table_head("workers", "requests", "failed", "versions answering", "failed loads (metric)", "reason in /repository",
               align="rrrlrl")
    for run in runs:
        refusal = run.refusal
        assert refusal is not None
        span = (refusal.started, refusal.ended)
        versions = collections.Counter(version for *_, version in run.traffic.between(*span) if version)
        table_row(run.workers, len(run.traffic.between(*span)), failed(run.traffic, span),
                  ", ".join(f"{version} ({count})" for version, count in sorted(versions.items())),
                  f"{refusal.failed_loads:.0f}", refusal.reason or "none shown")


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--swaps", type=int, default=10, help="publications of B, each followed by its removal")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--port", type=int, default=18080, help="the server's port on 127.0.0.1")
    parser.add_argument("--steady-s", type=float, default=10)
    parser.add_argument("--poll-s", type=float, default=0.5, help="SEQSERVE_MODEL_POLL_S")
    parser.add_argument("--quiet-s", type=float, default=1.5,
                        help="a change is over once the old version has not answered for this long")
    parser.add_argument("--timeout-s", type=float, default=60, help="a change not over by then counts as not seen")
    parser.add_argument("--hold-s", type=float, default=3, help="load kept on after every worker refused the corrupted B")
    args = parser.parse_args()
    runs = [measure(args, workers) for workers in args.workers]
    for run in runs:
        for outcome, count in sorted(run.traffic.failures.items()):
            print(f"{run.workers} worker(s): {count} {outcome}")
    summary_table(runs)
    change_table(runs)
    corrupt_table(runs)


if __name__ == "__main__":
    main()
