"""The batching loop without HTTP: a fake predict that blocks on an event decides when batches end."""

from __future__ import annotations

import asyncio
import threading

import pytest

from app import batching
from app.batching import BatchObserver, BatcherClosed, DynamicBatcher, IdleGate, Overloaded, length_groups

pytestmark = pytest.mark.anyio


class GatedPredict:
    """Records each batch; blocks each call until `release()` so tests decide when a forward ends."""

    def __init__(self, gated: bool = True) -> None:
        self.batches: list[list[str]] = []
        self.threads: list[str] = []  # which thread ran each batch
        self.started = threading.Semaphore(0)
        self._gate = threading.Semaphore(0)
        self._gated = gated
        self.fail_on: set[str] = set()

    def __call__(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        self.threads.append(threading.current_thread().name)
        self.started.release()
        if self._gated and not self._gate.acquire(timeout=5):
            raise TimeoutError("never released")  # a test that blocks the loop fails instead of hanging
        if self.fail_on.intersection(items):
            raise ValueError("bad item in batch")
        return [item.upper() for item in items]

    def release(self, times: int = 1) -> None:
        for _ in range(times):
            self._gate.release()

    async def wait_started(self) -> None:
        await asyncio.to_thread(self.started.acquire)


def make_batcher(predict: GatedPredict, **overrides: object) -> DynamicBatcher[str, str]:
    options: dict = {"max_batch_size": 4, "max_queue": 8} | overrides
    batcher: DynamicBatcher[str, str] = DynamicBatcher(predict, **options)
    batcher.start()
    return batcher


async def test_lone_item_runs_at_once_and_waiters_share_the_next_batch() -> None:
    predict = GatedPredict()
    batcher = make_batcher(predict)
    first = batcher.submit(["a"])
    await predict.wait_started()  # the lone item did not wait for company
    rest = batcher.submit(["b", "c", "d"])
    predict.release(2)
    assert await asyncio.gather(*first, *rest) == ["A", "B", "C", "D"]
    assert predict.batches == [["a"], ["b", "c", "d"]]
    await batcher.close()


async def test_batches_never_exceed_max_batch_size() -> None:
    predict = GatedPredict()
    batcher = make_batcher(predict, max_batch_size=2)
    blocker = batcher.submit(["x"])
    await predict.wait_started()
    rest = batcher.submit(["a", "b", "c"])
    predict.release(3)
    await asyncio.gather(*blocker, *rest)
    assert [len(batch) for batch in predict.batches] == [1, 2, 1]
    await batcher.close()


async def test_full_queue_refuses_the_whole_request_at_once() -> None:
    predict = GatedPredict()
    batcher = make_batcher(predict, max_queue=3)
    running = batcher.submit(["running"])
    await predict.wait_started()
    queued = batcher.submit(["a", "b"])
    with pytest.raises(Overloaded):
        batcher.submit(["c", "d"])  # would make 4 > 3: nothing of it is queued
    assert batcher.depth == 2
    predict.release(2)
    assert await asyncio.gather(*running, *queued) == ["RUNNING", "A", "B"]
    await batcher.close()


async def test_cancelled_job_is_never_predicted() -> None:
    predict = GatedPredict()
    batcher = make_batcher(predict)
    running = batcher.submit(["running"])
    await predict.wait_started()
    gone, kept = batcher.submit(["gone", "kept"])
    gone.cancel()
    predict.release(2)
    assert await asyncio.gather(*running, kept) == ["RUNNING", "KEPT"]
    assert predict.batches == [["running"], ["kept"]]
    await batcher.close()


async def test_close_answers_everything_queued_then_refuses_new_work() -> None:
    predict = GatedPredict(gated=False)
    batcher = make_batcher(predict, max_batch_size=2)
    futures = batcher.submit(["a", "b", "c", "d", "e"])
    await batcher.close()
    assert all(future.done() for future in futures)
    assert [future.result() for future in futures] == ["A", "B", "C", "D", "E"]
    with pytest.raises(BatcherClosed):
        batcher.submit(["late"])


async def test_a_failing_batch_is_retried_item_by_item_so_only_the_bad_item_fails() -> None:
    predict = GatedPredict(gated=False)
    predict.fail_on = {"bad"}
    batcher = make_batcher(predict)
    good, bad, other = batcher.submit(["good", "bad", "other"])
    assert await good == "GOOD"
    assert await other == "OTHER"
    with pytest.raises(ValueError, match="bad item"):
        await bad
    assert predict.batches[0] == ["good", "bad", "other"]
    assert ["bad"] in predict.batches[1:]
    await batcher.close()


async def test_observer_sees_each_batch_and_the_queue_depth() -> None:
    sizes: list[int] = []
    depths: list[int] = []
    observer = BatchObserver(on_batch=lambda size, seconds: sizes.append(size), on_queue=depths.append)
    predict = GatedPredict()
    batcher = make_batcher(predict, observer=observer)
    first = batcher.submit(["a"])
    await predict.wait_started()
    rest = batcher.submit(["b", "c"])
    predict.release(2)
    await asyncio.gather(*first, *rest)
    await batcher.close()
    assert sizes == [1, 2]
    assert 2 in depths and depths[-1] == 0


async def test_extra_wait_only_after_a_batch_of_several(monkeypatch: pytest.MonkeyPatch) -> None:
    sleeps: list[float] = []
    monkeypatch.setattr(batching.time, "sleep", sleeps.append)  # the model thread's wait for batch-mates
    predict = GatedPredict()
    batcher = make_batcher(predict, max_wait_s=0.005)
    lone = batcher.submit(["a"])
    await predict.wait_started()
    assert sleeps == []  # idle server: the lone request did not wait
    pair = batcher.submit(["b", "c"])
    predict.release(1)
    await predict.wait_started()  # batch of two started; the previous batch held one item: no wait
    assert sleeps == []
    after_pair = batcher.submit(["d"])
    predict.release(1)
    await predict.wait_started()  # previous batch held two: load is high, a short wait for batch-mates
    predict.release(1)
    await asyncio.gather(*lone, *pair, *after_pair)
    assert sleeps == [0.005]
    await batcher.close()


async def test_an_error_outside_predict_fails_that_batch_and_the_loop_goes_on() -> None:
    calls = []

    def flaky_observer(size: int, seconds: float) -> None:
        calls.append(size)
        if len(calls) == 1:
            raise RuntimeError("metrics backend down")

    predict = GatedPredict(gated=False)
    batcher = make_batcher(predict, observer=BatchObserver(on_batch=flaky_observer))
    (first,) = batcher.submit(["a"])
    with pytest.raises(RuntimeError, match="metrics backend down"):
        await first
    assert await batcher.submit(["b"])[0] == "B"
    await batcher.close()


async def answer(gate: IdleGate, batcher: DynamicBatcher[str, str], item: str) -> str:
    """What a request handler does: run here when alone, else queue."""
    if await gate.alone(batcher):
        return batcher.run_here([item])[0]
    return await batcher.submit([item])[0]


async def test_a_request_alone_runs_on_the_event_loop_not_in_the_model_thread() -> None:
    sizes: list[int] = []
    predict = GatedPredict(gated=False)
    batcher = make_batcher(predict, observer=BatchObserver(on_batch=lambda size, seconds: sizes.append(size)))
    assert await answer(IdleGate(), batcher, "a") == "A"
    assert predict.threads == [threading.current_thread().name] and sizes == [1]
    await batcher.close()


async def test_requests_arriving_together_queue_in_one_pass_and_share_a_batch() -> None:
    """None runs alone on the loop, and the first arrival does not queue a pass after its companions
    (the model thread would then have taken them without it)."""
    predict = GatedPredict(gated=False)
    batcher: DynamicBatcher[str, str] = DynamicBatcher(predict, max_batch_size=4, max_queue=8)  # not started
    gate = IdleGate()
    together = asyncio.gather(*(answer(gate, batcher, item) for item in "abc"))
    await asyncio.sleep(0)  # each found the batcher idle and waits one pass
    assert batcher.depth == 0
    await asyncio.sleep(0)  # then all three queued, in that same pass
    assert batcher.depth == 3
    batcher.start()
    assert await together == ["A", "B", "C"]
    assert predict.batches == [["a", "b", "c"]] and predict.threads == ["seqserve-model"]
    await batcher.close()


async def test_a_busy_or_closing_batcher_is_never_bypassed() -> None:
    predict = GatedPredict()
    batcher = make_batcher(predict)
    gate = IdleGate()
    running = batcher.submit(["running"])
    await predict.wait_started()
    assert not await gate.alone(batcher)  # a batch is running: the request queues behind it
    predict.release(1)
    await asyncio.gather(*running)
    while not await gate.alone(batcher):  # idle again once the model thread has let go of its batch
        await asyncio.sleep(0.001)
    await batcher.close()
    assert not await gate.alone(batcher)


async def test_run_here_fails_only_with_the_bad_items_error() -> None:
    predict = GatedPredict(gated=False)
    predict.fail_on = {"bad"}
    batcher = make_batcher(predict)
    assert batcher.run_here(["good", "other"]) == ["GOOD", "OTHER"]
    with pytest.raises(ValueError, match="bad item"):
        batcher.run_here(["good", "bad"])
    assert predict.batches[-2:] == [["good"], ["bad"]]  # retried one by one, as in the model thread
    await batcher.close()


async def test_a_failing_lone_item_is_predicted_once() -> None:
    predict = GatedPredict(gated=False)
    predict.fail_on = {"bad"}
    batcher = make_batcher(predict)
    with pytest.raises(ValueError, match="bad item"):
        await batcher.submit(["bad"])[0]
    with pytest.raises(ValueError, match="bad item"):
        batcher.run_here(["bad"])
    assert predict.batches == [["bad"], ["bad"]]  # one call each way, no retry of a batch of one
    await batcher.close()


def test_a_long_text_runs_apart_from_much_shorter_ones() -> None:
    assert length_groups([40, 90, 200]) == [[0, 1, 2]]  # short texts always share a forward
    assert length_groups([2000, 40, 1500, 90, 600, 700]) == [[1, 3], [4, 5], [2, 0]]
    assert length_groups([]) == []


async def test_the_batcher_runs_each_length_group_as_its_own_forward_and_answers_in_order() -> None:
    forwards: list[list[str]] = []

    def predict(items: list[str]) -> list[int]:
        forwards.append(items)
        return [len(item) for item in items]

    batcher: DynamicBatcher[str, int] = DynamicBatcher(predict, max_batch_size=8, max_queue=8, size=len)
    texts = ["short", "x" * 1000, "brief"]
    batcher.start()
    answers = await asyncio.gather(*batcher.submit(texts))
    await batcher.close()
    assert answers == [5, 1000, 5]
    assert sorted(map(sorted, forwards)) == [["brief", "short"], ["x" * 1000]]


class LongBlocks:
    """Answers short texts at once; a text over 1,000 characters waits until released. Records the thread
    of every forward."""

    def __init__(self) -> None:
        self.forwards: list[tuple[str, list[int]]] = []  # (thread name, lengths)
        self.long_started = threading.Semaphore(0)
        self._gate = threading.Semaphore(0)

    def __call__(self, items: list[str]) -> list[int]:
        self.forwards.append((threading.current_thread().name, [len(item) for item in items]))
        if any(len(item) > 1000 for item in items):
            self.long_started.release()
            if not self._gate.acquire(timeout=5):
                raise TimeoutError("never released")
        return [len(item) for item in items]

    def release(self, times: int = 1) -> None:
        for _ in range(times):
            self._gate.release()


async def test_a_long_text_runs_beside_the_next_short_batches_not_in_front_of_them() -> None:
    predict = LongBlocks()
    batcher: DynamicBatcher[str, int] = DynamicBatcher(predict, max_batch_size=8, max_queue=8, size=len, name="m")
    batcher.start()
    first = batcher.submit(["short", "x" * 2000])
    await asyncio.to_thread(predict.long_started.acquire)  # the long text is running, and blocks
    assert await first[0] == 5  # its short batch-mate was answered without waiting for it
    assert await asyncio.gather(*batcher.submit(["next", "one"])) == [4, 3]  # later batches go on
    predict.release()
    assert await first[1] == 2000
    await batcher.close()
    assert sorted(predict.forwards) == [("seqserve-m", [3, 4]), ("seqserve-m", [5]), ("seqserve-m-long", [2000])]


async def test_while_the_lane_is_busy_a_long_text_runs_after_its_batch_in_the_model_thread() -> None:
    predict = LongBlocks()
    batcher: DynamicBatcher[str, int] = DynamicBatcher(predict, max_batch_size=8, max_queue=8, size=len, name="m")
    batcher.start()
    first = batcher.submit(["a", "x" * 2000])
    await asyncio.to_thread(predict.long_started.acquire)
    second = batcher.submit(["b", "y" * 3000])  # the lane holds the first long text: this one waits its turn
    await asyncio.to_thread(predict.long_started.acquire)
    assert await second[0] == 1
    closing = asyncio.ensure_future(batcher.close())  # close waits for both long texts, accepted before it
    predict.release(2)
    assert await asyncio.gather(*first, *second) == [1, 2000, 1, 3000]
    await closing
    assert ("seqserve-m", [3000]) in predict.forwards and ("seqserve-m-long", [2000]) in predict.forwards
