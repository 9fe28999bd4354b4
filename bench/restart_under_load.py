"""Restart the service while clients keep sending; count what each request got.

    python -m bench.restart_under_load --url http://127.0.0.1:8000 \
        --restart "docker compose restart api" [--clients 16] [--seconds 20] [--restart-after 5]

Every request uses a fresh connection, so each outcome is one of: answered (by status), refused at
connect (the server was not listening: the client may retry safely), or broken after it was sent (the
one that loses work). A graceful restart shows answered and refused only.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import shlex
import time

import httpx

from bench.common import PROBE, arguments


async def client(url: str, until: float, outcomes: collections.Counter, ready: asyncio.Event) -> None:
    async with httpx.AsyncClient(timeout=30, headers={"Connection": "close"}) as http:
        while time.monotonic() < until:
            try:
                response = await http.post(f"{url}/classify", json=PROBE)
                outcomes[f"answered {response.status_code}"] += 1
                if response.status_code == 200:
                    ready.set()
            except httpx.ConnectError:
                outcomes["refused at connect"] += 1
                await asyncio.sleep(0.05)
            except httpx.HTTPError as exc:
                outcomes[f"broken after sending: {type(exc).__name__}"] += 1


async def run(args: argparse.Namespace) -> collections.Counter:
    outcomes: collections.Counter = collections.Counter()
    ready = asyncio.Event()
    until = time.monotonic() + args.seconds
    clients = [asyncio.ensure_future(client(args.url, until, outcomes, ready)) for _ in range(args.clients)]
    await asyncio.wait_for(ready.wait(), 60)
    await asyncio.sleep(args.restart_after)
    started = time.monotonic()
    process = await asyncio.create_subprocess_exec(*shlex.split(args.restart))
    await process.wait()
    print(f"restart command returned {process.returncode} after {time.monotonic() - started:.1f} s")
    await asyncio.gather(*clients)
    return outcomes


def main() -> None:
    parser = arguments(__doc__, data=False)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--restart", required=True, help="command that restarts the service")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--restart-after", type=float, default=5)
    args = parser.parse_args()
    outcomes = asyncio.run(run(args))
    for outcome, count in sorted(outcomes.items()):
        print(f"{count:8d}  {outcome}")
    lost = sum(
        count
        for outcome, count in outcomes.items()
        if outcome.startswith("broken") or outcome in ("answered 500", "answered 504")
    )
    print(f"lost (broken after sending, 500 or 504): {lost}")


if __name__ == "__main__":
    main()
