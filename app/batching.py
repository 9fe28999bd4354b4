"""The one dynamic-batching loop: bounded queue → batch → forward in a model thread → resolve futures.

Never waits while idle: a lone request is taken at once and runs as a batch of one. While a forward runs,
new requests queue up, and the next batch takes everything waiting (up to `max_batch_size`); under load
batches fill by themselves, with no timer. `max_wait_s` adds an optional short wait for batch-mates, and
only while the previous batch held more than one item (load is high, so more work is likely).
Knows nothing of HTTP: items in, results out, so it is tested with plain functions.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

log = logging.getLogger("seqserve.batching")


class Overloaded(Exception):
    """The queue cannot take the submitted items; the caller should answer 503 and retry later."""


class BatcherClosed(Exception):
    """The batcher is draining for shutdown and takes no new work."""


@dataclass(slots=True, eq=False)
class Job(Generic[Item]):
    item: Item
    future: asyncio.Future = field(repr=False)
    enqueued: float = 0.0  # perf_counter() at submit


@dataclass(frozen=True, slots=True)
class BatchObserver:
    """Callbacks for metrics; the batcher does not know which metrics library is behind them."""

    on_batch: Callable[[int, float], None] = lambda size, seconds: None
    on_queue: Callable[[int], None] = lambda depth: None
    on_wait: Callable[[float], None] = lambda seconds: None  # per item: queued until its batch starts


_STOP = object()


class DynamicBatcher(Generic[Item, Result]):
    def __init__(
        self,
        predict: Callable[[list[Item]], list[Result]],
        *,
        max_batch_size: int,
        max_queue: int,
        max_wait_s: float = 0.0,
        observer: BatchObserver | None = None,
        name: str = "model",
    ) -> None:
        """`predict` runs in a dedicated thread, one batch at a time, and returns one result per item.

        Batches are never split by length: packed LSTMs skip padding, so a batch run whole costs no more
        than its parts (measured on the CPU when a split option existed; it never paid).
        """
        self._predict = predict
        self._max_batch = max_batch_size
        self._max_queue = max_queue
        self._max_wait_s = max_wait_s
        self._observer = observer or BatchObserver()
        self._queue: asyncio.Queue = asyncio.Queue()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"seqserve-{name}")
        self._closing = False
        self._last_batch_size = 0
        self._task: asyncio.Task | None = None

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def capacity(self) -> int:
        """Most items the queue holds: a submission larger than this can never be accepted."""
        return self._max_queue

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    def submit(self, items: Sequence[Item]) -> list[asyncio.Future]:
        """Queue every item or none (a multi-text request is never half-accepted); no await inside."""
        if self._closing:
            raise BatcherClosed()
        if self._queue.qsize() + len(items) > self._max_queue:
            raise Overloaded()
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        jobs = [Job(item, loop.create_future(), now) for item in items]
        for job in jobs:
            self._queue.put_nowait(job)
        self._observer.on_queue(self._queue.qsize())
        return [job.future for job in jobs]

    async def run(self) -> None:
        stopping = False
        while not stopping:
            first = await self._queue.get()  # idle: block, no timer, no polling
            if first is _STOP:
                break
            jobs: list[Job] = [first]
            stopping = self._take_waiting(jobs)
            if self._max_wait_s and not stopping and len(jobs) < self._max_batch and self._last_batch_size > 1:
                await asyncio.sleep(self._max_wait_s)
                stopping = self._take_waiting(jobs)
            self._observer.on_queue(self._queue.qsize())
            live = [job for job in jobs if not job.future.done()]  # the caller gave up or timed out
            self._last_batch_size = len(live)
            try:
                await self._run_batch(live)
            except Exception as exc:  # a bug here must fail these callers, not stop the loop for all
                log.exception("batch loop error")
                for job in live:
                    if not job.future.done():
                        job.future.set_exception(exc)
        self._executor.shutdown(wait=True)

    async def close(self) -> None:
        """Stop accepting, finish everything already queued, then stop the loop."""
        if self._closing:
            return
        self._closing = True
        self._queue.put_nowait(_STOP)
        if self._task is not None:
            await self._task

    def _take_waiting(self, jobs: list[Job]) -> bool:
        """Move already-queued jobs into `jobs` up to the batch size; True if the stop marker was met."""
        while len(jobs) < self._max_batch and not self._queue.empty():
            job = self._queue.get_nowait()
            if job is _STOP:
                return True
            jobs.append(job)
        return False

    async def _run_batch(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        for job in jobs:
            self._observer.on_wait(started - job.enqueued)
        try:
            results = await loop.run_in_executor(self._executor, self._predict, [job.item for job in jobs])
        except Exception:
            log.exception("batch of %d failed; retrying its items one by one", len(jobs))
            await self._run_one_by_one(jobs)
            return
        self._observer.on_batch(len(jobs), time.perf_counter() - started)
        for job, result in zip(jobs, results, strict=True):
            if not job.future.done():
                job.future.set_result(result)

    async def _run_one_by_one(self, jobs: list[Job]) -> None:
        """One bad item fails alone; its batch-mates still get answers."""
        loop = asyncio.get_running_loop()
        for job in jobs:
            try:
                result = (await loop.run_in_executor(self._executor, self._predict, [job.item]))[0]
            except Exception as exc:
                if not job.future.done():
                    job.future.set_exception(exc)
                continue
            if not job.future.done():
                job.future.set_result(result)

