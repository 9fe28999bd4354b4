"""Texts to bundles and answers back: the one way any protocol's handler runs work on the batchers.

A handler reads and checks its body, then calls `answer` with the bundles and texts; everything a request
shares after that lives here: the deadline (504), the client leaving, all-or-nothing submission (503 when
a queue is full or draining), occlusion explanations, and the shortcut for a lone text. A request walks
one way: handler → dispatch → batcher.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from starlette.requests import Request

from app import errors
from app.batching import LONG_CHARS, BatcherClosed, Overloaded
from app.bundles import ServedBundle
from app.explanations import attach_explanations, plan_explanations
from app.state import ServiceState

Work = list[tuple[ServedBundle, Sequence[Any]]]  # each bundle with the items it is sent


def select_bundles(state: ServiceState, names: Sequence[str] | None, field: str = "models") -> list[ServedBundle]:
    """The versions a request names: `NAME` (its default version) or `NAME@VERSION`; every name's default
    when it names none. An unknown name or version is a 422 naming the entry."""
    if not state.ready:
        raise errors.not_ready("bundles are loading or the server is draining")
    registry = state.registry
    if names is None:
        return registry.defaults()
    chosen: dict[str, ServedBundle] = {}
    for index, entry in enumerate(names):
        name, _, version = entry.partition("@")
        bundle, missing = find_version(state, name, version or None)
        where = f"{field}.{index}"
        if bundle is None:
            raise errors.invalid_field(where, missing)
        if chosen.get(name, bundle) is not bundle:
            raise errors.invalid_field(where, f"ask for one version of model '{name}' per request")
        chosen[name] = bundle
    return list(chosen.values())


def model_version(state: ServiceState, name: str, version: str | None = None) -> ServedBundle:
    """The version a URL names (`version`, else the name's default): a 404 when none is loaded, so a
    protocol that puts the model in its path tells "no such model" apart from a bad body."""
    if not state.ready:
        raise errors.not_ready("bundles are loading or the server is draining")
    bundle, missing = find_version(state, name, version)
    if bundle is None:
        raise errors.not_found(missing, "path")
    return bundle


def find_version(state: ServiceState, name: str, version: str | None) -> tuple[ServedBundle | None, str]:
    """The loaded version of `name` (`version`, else its default), or None and why, naming what is loaded."""
    registry = state.registry
    default = registry.default(name)
    if default is None:
        return None, f"unknown model '{name}'; available: {', '.join(registry.names())}"
    bundle = default if version is None else registry.find(name, version)
    if bundle is None:
        loaded = ", ".join(b.version for b in registry.serving(name))
        return None, f"model '{name}' has no version '{version}'; loaded: {loaded}"
    return bundle, ""


async def answer(
    state: ServiceState,
    request: Request,
    bundles: list[ServedBundle],
    texts: list[str],
    fields: list[str],
    explain: bool,
    abstain: bool,
    started: float,
) -> list[list[Any]]:
    """Every bundle's payload for every text (per bundle, in text order); `fields` name the texts in errors.

    With `abstain` off, no prediction is marked out of scope (the rule ran in the batch it shared).
    """
    if explain:
        limit = state.settings.explain_max_tokens
        plans = [plan_explanations(bundle, texts, fields, limit) for bundle in bundles]
        got = await predict(state, [(bundle, plan.items) for bundle, plan in zip(bundles, plans)], request, started)
        answers = [attach_explanations(bundle, texts, plan, a) for bundle, plan, a in zip(bundles, plans, got)]
    else:
        answers = await predict(state, [(bundle, texts) for bundle in bundles], request, started)
    if not abstain:
        for payload in (payload for per_bundle in answers for payload in per_bundle):
            payload["abstained"] = False
    return answers


async def predict(state: ServiceState, work: Work, request: Request, started: float) -> list[list[Any]]:
    """Submit each bundle its items, then wait for all answers, the client leaving, or the deadline.

    A lone text for one bundle, with nobody to batch with, skips the queue and runs right here. Several
    texts or bundles still go to the model threads: the hop is small beside their forwards, which there
    overlap each other and the event loop's reading of the next requests.
    """
    if await runs_alone(state, work, started):
        bundle, items = work[0]
        answers = bundle.batcher.run_here(items)
        if remaining_s(state, started) <= 0:  # answered past the deadline: a 504, as from the queue
            state.count_rejection("timeout")
            raise errors.timed_out(state.settings.request_timeout_s)
        return [answers]
    # Watch for the client leaving only when the texts wait behind at least a full batch: that is where
    # dropping them saves work; where nothing waits, the watcher task would only add to the latency.
    watch_client = max((bundle.batcher.depth - bundle.max_batch_size for bundle, _ in work), default=0) >= 0
    futures = submit_all(state, work)
    flat = await wait_for_answers(state, futures, request, started, watch_client)
    answers, position = [], 0
    for _, items in work:
        answers.append(flat[position : position + len(items)])
        position += len(items)
    return answers


async def runs_alone(state: ServiceState, work: Work, started: float) -> bool:
    """One short text for one bundle, before its deadline, and nobody else around (a long text's forward
    would hold the event loop for milliseconds: it goes to the model thread)."""
    if len(work) != 1 or len(work[0][1]) != 1 or len(work[0][1][0]) > LONG_CHARS:
        return False
    return remaining_s(state, started) > 0 and await state.idle_gate.alone(work[0][0].batcher)


def remaining_s(state: ServiceState, started: float) -> float:
    return state.settings.request_timeout_s - (time.perf_counter() - started)


def submit_all(state: ServiceState, work: Work) -> list[asyncio.Future]:
    """Queue every bundle's items or none: what one bundle accepted is withdrawn when another refuses."""
    futures: list[asyncio.Future] = []
    try:
        for bundle, items in work:
            futures.extend(bundle.batcher.submit(items))
    except (Overloaded, BatcherClosed) as exc:
        for future in futures:
            future.cancel()
        if isinstance(exc, BatcherClosed):
            state.count_rejection("draining")
            raise errors.not_ready("the server is shutting down") from None
        state.count_rejection("overloaded")
        raise errors.overloaded() from None
    return futures


async def wait_for_answers(
    state: ServiceState, futures: list[asyncio.Future], request: Request, started: float, watch_client: bool
) -> list[Any]:
    """Every answer in order; at the deadline (504) or when the client left, the work is dropped instead.

    A single answer (one text, one bundle: the common request) is awaited as it is, with no gather or
    watcher around it.
    """
    everything = futures[0] if len(futures) == 1 else asyncio.gather(*futures)
    remaining = max(remaining_s(state, started), 0)
    gone = False
    if watch_client:
        gone = await answered_or_gone(everything, request, remaining)
    else:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(remaining):
                await everything  # the timeout cancels it: cancelled jobs are dropped before compute
    if not everything.done() or everything.cancelled():
        everything.cancel()
        everything.add_done_callback(lambda future: future.cancelled() or future.exception())
        state.count_rejection("disconnected" if gone else "timeout")
        raise errors.timed_out(state.settings.request_timeout_s)
    return [everything.result()] if len(futures) == 1 else everything.result()


async def answered_or_gone(everything: asyncio.Future, request: Request, remaining: float) -> bool:
    """Wait for the answers, the client leaving, or the deadline; True if the client left first."""
    disconnected = asyncio.ensure_future(wait_for_disconnect(request))
    try:
        await asyncio.wait({everything, disconnected}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
        return disconnected.done() and not everything.done()
    finally:
        disconnected.cancel()


async def wait_for_disconnect(request: Request) -> None:
    """Return when the client goes away (after the body is read, the next message is the disconnect)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
