"""The one dynamic-batching loop: bounded queue → batch → forward in the model thread → resolve futures.

Never waits while idle: the model thread sleeps on a condition and takes a lone request the moment it is
queued, as a batch of one. While a forward runs, new requests queue up, and the next batch takes
everything waiting (up to `max_batch_size`); under load batches fill by themselves, with no timer.
`max_wait_s` adds an optional short wait for batch-mates, and only while the previous batch held more
than one item (load is high, so more work is likely).

The loop runs in its own thread rather than as an event-loop task that hands each batch to an executor:
a request then costs one hand-off to the model thread and one back (`call_soon_threadsafe`). A request
that finds its batcher idle and nobody arriving beside it skips even that (`IdleGate`): with nobody to
batch with, its forward runs right on the event loop. `bench/batcher_hop.py` measures both ways.
Knows nothing of HTTP: items in, results out, so it is tested with plain functions.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

log = logging.getLogger("seqserve.batching")

LONG_CHARS = 256  # texts up to this length always share a forward (see `length_groups`)


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
class Failed:
    """An item's outcome when it raised: resolved as that exception on the event loop."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class BatchObserver:
    """Callbacks for metrics, called from the model thread; the batcher does not know which library is behind."""

    on_batch: Callable[[int, float], None] = lambda size, seconds: None
    on_queue: Callable[[int], None] = lambda depth: None
    on_wait: Callable[[float], None] = lambda seconds: None  # per item: queued until its batch starts


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
        size: Callable[[Item], int] | None = None,
    ) -> None:
        """`predict` runs in the batcher's own thread, one batch at a time, and returns one result per item.

        With `size` (an item's length in characters), a long item taken with much shorter ones runs in a
        forward of its own (`length_groups`): the padded parts of a forward cost its longest text times
        its size, so one 2,000-character text made a batch of 32 short ones several times slower. The
        long groups go to a second thread (`SideLane`) when it is free, so the model thread answers the
        short ones and takes the next batch meanwhile; otherwise they run after the short ones, here
        (`bench/text_length.py`). Items of similar lengths are never split: packed LSTMs skip padding,
        so such a batch run whole costs no more than its parts.
        """
        self._predict = predict
        self._size = size
        self._max_batch = max_batch_size
        self._max_queue = max_queue
        self._max_wait_s = max_wait_s
        self._observer = observer or BatchObserver()
        self._name = name
        self._pending: deque[Job] = deque()
        self._changed = threading.Condition()  # guards _pending and _closing; notified on submit and close
        self._closing = False
        self._running = False  # the model thread holds a batch: set as jobs leave _pending, cleared on return
        self._last_batch_size = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopped: asyncio.Future | None = None
        self._lane = SideLane(name=f"seqserve-{name}-long") if size else None

    @property
    def depth(self) -> int:
        return len(self._pending)

    @property
    def capacity(self) -> int:
        """Most items the queue holds: a submission larger than this can never be accepted."""
        return self._max_queue

    def idle(self) -> bool:
        """Nothing queued, no batch running, not closing: work given now would start at once, alone."""
        with self._changed:
            return not self._pending and not self._running and not self._closing

    def start(self) -> None:
        """Start the model thread; answers are resolved on the running event loop."""
        self._loop = asyncio.get_running_loop()
        self._stopped = self._loop.create_future()
        if self._lane is not None:
            self._lane.start(self._run_groups)
        threading.Thread(target=self._run, name=f"seqserve-{self._name}", daemon=True).start()

    def submit(self, items: Sequence[Item]) -> list[asyncio.Future]:
        """Queue every item or none (a multi-text request is never half-accepted); no await inside."""
        if self._closing:
            raise BatcherClosed()
        if len(self._pending) + len(items) > self._max_queue:
            raise Overloaded()
        loop = asyncio.get_running_loop()
        now = time.perf_counter()
        jobs = [Job(item, loop.create_future(), now) for item in items]
        with self._changed:
            self._pending.extend(jobs)
            self._changed.notify()
        self._observer.on_queue(len(self._pending))
        return [job.future for job in jobs]

    def run_here(self, items: Sequence[Item]) -> list[Result]:
        """Run `items` as one batch in the calling thread, for a caller that found the batcher idle.

        Only the event loop calls this, and only while `idle()` (see `IdleGate`): nothing can be queued
        meanwhile, so the model thread stays asleep (the side lane may still be finishing a long text,
        which is safe: see `SideLane`). Metrics and
        one-bad-item-fails-alone are as in the model thread; the first failure is raised.
        """
        self._observe_waits([time.perf_counter()] * len(items))
        outcomes = self._forward(list(items))
        for outcome in outcomes:
            if isinstance(outcome, Failed):
                raise outcome.error
        return outcomes  # type: ignore[return-value]

    async def close(self) -> None:
        """Stop accepting, finish everything already queued, then stop the model thread."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        if self._stopped is not None:
            await asyncio.shield(self._stopped)

    # --- the model thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        assert self._loop is not None and self._stopped is not None
        try:
            while (jobs := self._next_batch()) is not None:
                self._run_batch(jobs)
        finally:
            if self._lane is not None:
                self._lane.close()  # what it holds was accepted: it finishes before the batcher stops
            self._loop.call_soon_threadsafe(self._stopped.set_result, None)

    def _next_batch(self) -> list[Job] | None:
        """Block until work is queued; None once closing and drained."""
        with self._changed:
            self._running = False  # back for more: the last batch, if any, is done with the model
            while not self._pending and not self._closing:
                self._changed.wait()
            if not self._pending:
                return None
        busy = self._last_batch_size > 1 and not self._closing
        if self._max_wait_s and busy and len(self._pending) < self._max_batch:
            time.sleep(self._max_wait_s)
        with self._changed:
            jobs = [self._pending.popleft() for _ in range(min(len(self._pending), self._max_batch))]
            self._running = True
        self._observer.on_queue(len(self._pending))
        return jobs

    def _run_batch(self, jobs: list[Job]) -> None:
        # done() is read off the loop thread: a job cancelled meanwhile is computed and then not resolved
        live = [job for job in jobs if not job.future.done()]  # the caller gave up or timed out
        self._last_batch_size = len(live)
        if not live:
            return
        self._observe_waits([job.enqueued for job in live])
        groups = [live]
        if self._size is not None:
            sizes = [self._size(job.item) for job in live]
            groups = [[live[index] for index in group] for group in length_groups(sizes)]
        if len(groups) > 1 and self._lane is not None and self._lane.offer(groups[1:]):
            groups = groups[:1]  # the long ones run beside the next batches
        self._run_groups(groups)

    def _run_groups(self, groups: list[list[Job]]) -> None:
        """One forward per group, shortest first, each answered as soon as it is done."""
        assert self._loop is not None
        for jobs_now in groups:
            try:
                outcomes = self._forward([job.item for job in jobs_now])
            except Exception as exc:  # a bug here must fail these callers, not stop the loop for all
                log.exception("batch loop error")
                outcomes = [Failed(exc)] * len(jobs_now)
            self._loop.call_soon_threadsafe(resolve, jobs_now, outcomes)

    def _observe_waits(self, enqueued: list[float]) -> None:
        started = time.perf_counter()
        for at in enqueued:
            self._observer.on_wait(started - at)

    def _forward(self, items: list[Item]) -> list[Result | Failed]:
        """One forward of `items`; when it fails, each item again alone, so one bad item fails alone."""
        started = time.perf_counter()
        try:
            results: list[Result | Failed] = list(self._predict(items))
        except Exception as exc:
            if len(items) == 1:  # nothing to tell apart: running it again would only fail again
                log.exception("prediction failed")
                return [Failed(exc)]
            log.exception("batch of %d failed; retrying its items one by one", len(items))
            return [self._predict_alone(item) for item in items]  # one bad item fails alone
        self._observer.on_batch(len(items), time.perf_counter() - started)
        if len(results) != len(items):
            raise ValueError(f"predict returned {len(results)} results for {len(items)} items")
        return results

    def _predict_alone(self, item: Item) -> Result | Failed:
        try:
            return self._predict([item])[0]
        except Exception as exc:
            return Failed(exc)


class SideLane:
    """A second thread beside the model thread for a batch's long texts, holding one hand-off at a time.

    A long text's forward would hold up every short batch queued behind it; here it runs while the
    model thread goes on. It takes work only while free (`offer` says no otherwise, and the model thread
    runs the group itself), so long texts never pile up beyond what the queue limit admitted. Forwards
    of one TorchScript module may run in two threads at once; anything stateful on the way (the pinned
    CUDA copy) is per thread.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._held: list[list[Job]] | None = None
        self._busy = False  # from offer until its work is answered
        self._closing = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self, run: Callable[[list[list[Job]]], None]) -> None:
        """`run` is held by the thread only, not kept: no cycle keeps a batcher alive once both threads end."""
        self._thread = threading.Thread(target=self._serve, args=(run,), name=self._name, daemon=True)
        self._thread.start()

    def offer(self, groups: list[list[Job]]) -> bool:
        with self._changed:
            if self._busy or self._closing:
                return False
            self._held, self._busy = groups, True
            self._changed.notify()
            return True

    def close(self) -> None:
        """Finish what was handed over, then stop; called by the model thread as it stops."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        if self._thread is not None:
            self._thread.join()

    def _serve(self, run: Callable[[list[list[Job]]], None]) -> None:
        while True:
            with self._changed:
                while self._held is None and not self._closing:
                    self._changed.wait()
                if self._held is None:
                    return
                groups, self._held = self._held, None
            try:
                run(groups)
            finally:
                with self._changed:
                    self._busy = False


def length_groups(lengths: Sequence[int], floor: int = LONG_CHARS) -> list[list[int]]:
    """Indices of a taken batch grouped into forwards: shortest first, an item joins the group before it
    while it is at most twice that group's first length, or under `floor` characters (short texts always
    share a forward; only a text much longer than the others runs apart)."""
    groups: list[list[int]] = []
    for index in sorted(range(len(lengths)), key=lengths.__getitem__):
        if groups and lengths[index] <= max(2 * lengths[groups[-1][0]], floor):
            groups[-1].append(index)
        else:
            groups.append([index])
    return groups


class IdleGate:
    """Lets a request with nobody to batch with run its forward on the event loop, skipping the hop.

    A request that finds its batcher idle waits one pass of the event loop, and so does every other
    request read in the same pass that finds it idle too. Then only a request that waited alone, with
    its batcher still idle, takes the shortcut; the others submit one after another in the same pass,
    so they share a batch as they would have without the gate. State is touched only on the event loop,
    so a counter needs no lock.
    """

    def __init__(self) -> None:
        self._waiting = 0

    async def alone(self, batcher: DynamicBatcher) -> bool:
        if not batcher.idle():
            return False
        self._waiting += 1
        try:
            await asyncio.sleep(0)
            return self._waiting == 1 and batcher.idle()
        finally:
            self._waiting -= 1


def resolve(jobs: Sequence[Job], outcomes: Sequence[object]) -> None:
    """On the event loop: hand each waiting caller its result or exception."""
    for job, outcome in zip(jobs, outcomes, strict=True):
        if job.future.done():
            continue
        if isinstance(outcome, Failed):
            job.future.set_exception(outcome.error)
        else:
            job.future.set_result(outcome)
