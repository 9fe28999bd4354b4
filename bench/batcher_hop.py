"""What batching adds to a lone request: one item through `DynamicBatcher` with a no-op model.

    python -m bench.batcher_hop [--items 20000]

Submits one item, awaits its answer, again and again (nothing else runs), two ways: queued, through the
model thread and back; and the way a request alone in the process goes (`IdleGate.alone`, then
`run_here` on the event loop). Prints the median and p90 round trip of each in microseconds, without
any model cost.
"""

from __future__ import annotations

import asyncio
import statistics
import time

from app.batching import DynamicBatcher, IdleGate
from bench.common import arguments


async def round_trips(items: int) -> dict[str, list[float]]:
    batcher: DynamicBatcher[str, str] = DynamicBatcher(lambda batch: batch, max_batch_size=32, max_queue=64)
    batcher.start()
    gate = IdleGate()

    async def queued() -> None:
        await batcher.submit(["x"])[0]

    async def alone() -> None:
        assert await gate.alone(batcher)
        batcher.run_here(["x"])

    seconds: dict[str, list[float]] = {"queued": [], "alone": []}
    for _ in range(items):
        for way, run in (("queued", queued), ("alone", alone)):
            while not batcher.idle():  # the model thread marks itself idle when it comes back for work
                await asyncio.sleep(0)
            started = time.perf_counter()
            await run()
            seconds[way].append(time.perf_counter() - started)
    await batcher.close()
    return seconds


def main() -> None:
    parser = arguments(__doc__, data=False)
    parser.add_argument("--items", type=int, default=20_000)
    for way, seconds in asyncio.run(round_trips(parser.parse_args().items)).items():
        seconds.sort()
        print(f"{way:6s} round trip through the batcher: median {statistics.median(seconds) * 1e6:.1f} µs, "
              f"p90 {seconds[int(0.9 * len(seconds))] * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
