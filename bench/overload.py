"""Overload: drive the service at several times its capacity and report how it sheds load.

    python -m bench.overload [--concurrency 512] [--seconds 20] [--workers 1] [--data DIR] [--loadtest PATH]

1. Measures capacity with wrk at c=64.
2. Runs wrk at c=512 (closed loop: each connection sends again as soon as it is answered) and, beside
   it, an open-loop probe that sends 100 requests/s and times each one, split by status: wrk reports
   one latency distribution for all answers, the probe tells rejections from accepted requests.
3. Keeps probing for 5 s after the load stops: how long until latency is back to normal.
Prints: share shed with 503, p99 of rejections and of accepted requests, peak RSS, crashes, recovery.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from bench.common import PROBE, Server, Wrk, arguments, mixed_bodies, percentile, start_server, wrk


async def probe(url: str, stop_at: float, rate: float) -> list[tuple[float, int, float]]:
    """Open-loop probe: (sent at, status or 0 on error, latency s) for each request."""
    samples: list[tuple[float, int, float]] = []
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:

        async def one() -> None:
            sent = time.perf_counter()
            try:
                status = (await client.post(url, json=PROBE)).status_code
            except httpx.HTTPError:
                status = 0
            samples.append((sent, status, time.perf_counter() - sent))

        tasks = []
        while time.perf_counter() < stop_at:
            tasks.append(asyncio.ensure_future(one()))
            await asyncio.sleep(1 / rate)
        await asyncio.gather(*tasks)
    return samples


def overload(server: Server, load: Wrk, args: argparse.Namespace) -> dict:
    """Capacity, idle latency, then the overload beside the probe: every figure the report needs."""
    url = f"{server.url}/classify"
    load.run(url, 16, 3)
    capacity = load.run(url, 64, 10)
    idle = asyncio.run(probe(url, time.perf_counter() + 3, rate=50))
    normal_p50 = percentile([lat for _, status, lat in idle if status == 200], 50)

    peak_rss = [server.rss_mb()]
    stop_sampling = threading.Event()

    def sample_rss() -> None:
        while not stop_sampling.wait(0.25):
            peak_rss.append(server.rss_mb())

    sampler = threading.Thread(target=sample_rss, daemon=True)
    sampler.start()
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(load.run, url, args.concurrency, args.seconds)
        started = time.perf_counter()
        samples = asyncio.run(probe(url, started + args.seconds + 5, rate=100))
        result = running.result()
    stop_sampling.set()
    sampler.join()
    return {"capacity": capacity, "normal_p50": normal_p50, "peak_rss": peak_rss, "started": started,
            "samples": samples, "overload": result, "alive": server.alive()}


def report(run: dict, args: argparse.Namespace) -> None:
    capacity, overload, started, normal_p50 = run["capacity"], run["overload"], run["started"], run["normal_p50"]
    load_end = started + overload["seconds"]
    during = [(status, lat) for sent, status, lat in run["samples"] if started + 1 < sent < load_end]
    after = [(sent - load_end, status, lat) for sent, status, lat in run["samples"] if sent >= load_end]
    recovered = next((t for t, status, lat in after if status == 200 and lat < 3 * normal_p50), float("nan"))
    rejected = [lat * 1000 for status, lat in during if status == 503]
    accepted = [lat * 1000 for status, lat in during if status == 200]
    errors = sum(1 for status, _ in during if status not in (200, 503))
    print(f"capacity (wrk c=64, 10 s): {capacity['rps']:,.0f} rps, p99 {capacity['p99_ms']} ms")
    print(f"overload (wrk c={args.concurrency}, {args.seconds} s): {overload['rps']:,.0f} answers/s "
          f"({overload['rps'] / capacity['rps']:.1f}x capacity), {overload['non2xx']} non-2xx of "
          f"{overload['requests']} = {100 * overload['non2xx'] / overload['requests']:.1f} % shed, "
          f"socket errors {overload['socket_errors']}, p99 all answers {overload['p99_ms']} ms")
    print(f"probe during overload: {len(during)} requests, {len(rejected)} rejected (503) p50/p99 "
          f"{percentile(rejected, 50):.1f}/{percentile(rejected, 99):.1f} ms, {len(accepted)} accepted (200) "
          f"p50/p99 {percentile(accepted, 50):.1f}/{percentile(accepted, 99):.1f} ms, other statuses {errors}")
    print(f"peak RSS during overload: {max(run['peak_rss']):.0f} MB (before: {run['peak_rss'][0]:.0f} MB)")
    print(f"server alive and healthy after: {run['alive']}")
    print(f"normal latency (p50 {normal_p50 * 1000:.1f} ms at idle) back {recovered:.2f} s after the load stopped")


def main() -> None:
    parser = arguments(__doc__, loadtest=True)
    parser.add_argument("--concurrency", type=int, default=512)
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    load = wrk(args, mixed_bodies(args.data))
    server = start_server({"SEQSERVE_WORKERS": str(args.workers), "SEQSERVE_MODELS": "atis,sentiment"})
    try:
        run = overload(server, load, args)
    finally:
        server.stop()
    report(run, args)


if __name__ == "__main__":
    main()
