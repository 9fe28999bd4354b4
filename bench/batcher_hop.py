"""What the batcher itself adds to a lone request: one item through `DynamicBatcher` with a no-op model.

    python bench/batcher_hop.py [--items 20000]

Submits one item, awaits its answer, again and again (nothing else runs), and prints the median and
p90 round trip in microseconds: the hand-off to the model thread and back, without any model cost.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.batching import DynamicBatcher  # noqa: E402


async def round_trips(items: int) -> list[float]:
    batcher: DynamicBatcher[str, str] = DynamicBatcher(lambda batch: batch, max_batch_size=32, max_queue=64)
    batcher.start()
    seconds = []
    for _ in range(items):
        started = time.perf_counter()
        await batcher.submit(["x"])[0]
        seconds.append(time.perf_counter() - started)
    await batcher.close()
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    seconds = sorted(asyncio.run(round_trips(parser.parse_args().items)))
    print(f"round trip through the batcher: median {statistics.median(seconds) * 1e6:.1f} µs, "
          f"p90 {seconds[int(0.9 * len(seconds))] * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
