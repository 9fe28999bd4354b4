"""Thin handlers: read and validate the body → submit each text to each bundle's batcher → join → respond."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
from collections.abc import Sequence
from typing import Any

import orjson
from fastapi import FastAPI, Request
from pydantic import ValidationError
from starlette.responses import Response
from starlette.routing import Route

from app import errors
from app.batching import BatcherClosed, Overloaded
from app.bundles import ServedBundle
from app.config import Settings
from app.explanations import attach_explanations, plan_explanations
from app.schemas import ClassifyRequestBase, ErrorResponse, HealthResponse, ModelsResponse
from app.state import ServiceState
from model.validation import first_error

JSON = "application/json"


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON)


def error_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse} for status in statuses}


def register_routes(app: FastAPI, state: ServiceState) -> None:
    settings = state.settings

    async def classify(request: Request) -> Response:
        started = time.perf_counter()
        check_auth(request, settings)
        body = await read_body(request, settings.max_body_bytes)
        parsed = parse_request(body, state.request_model)
        texts = [parsed.text] if parsed.text is not None else parsed.texts
        bundles = select_bundles(state, parsed.models)
        if parsed.explain:
            per_bundle = await predict_explained(state, bundles, texts, parsed.text is None, request, started)
        else:
            per_bundle = await predict_all(state, [(bundle, texts) for bundle in bundles], request, started)
        versions = {bundle.name: bundle.version for bundle in bundles}
        results = [
            {"text": text, "predictions": {bundle.name: outputs[i] for bundle, outputs in zip(bundles, per_bundle)}}
            for i, text in enumerate(texts)
        ]
        if parsed.text is not None:
            return json_response({**results[0], "model_versions": versions})
        return json_response({"results": results, "model_versions": versions})

    app.router.routes.insert(0, Route("/classify", classify, methods=["POST"]))  # documented by app.openapi

    @app.get("/models", response_model=ModelsResponse, responses=error_docs(401))
    async def models(request: Request) -> Response:
        check_auth(request, settings)
        return json_response({"models": [bundle.info() for bundle in state.bundles.values()]})

    @app.get("/healthz", response_model=HealthResponse, summary="The process is alive")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get(
        "/readyz",
        response_model=HealthResponse,
        responses=error_docs(503),
        summary="Every bundle is loaded and warmed up (503 before, and while draining)",
    )
    async def readyz() -> Response:
        if not state.accepting_new_clients():
            raise errors.not_ready("bundles are loading or the server is draining")
        return json_response({"status": "ready"})

    @app.get("/metrics", summary="Prometheus metrics of the whole server (all workers)", response_class=Response)
    async def metrics() -> Response:
        if state.metrics is None:
            raise errors.not_ready("metrics start with the server")
        content, content_type = state.metrics.render()
        return Response(content, media_type=content_type)


def check_auth(request: Request, settings: Settings) -> None:
    if settings.api_key is None:
        return
    expected = f"Bearer {settings.api_key.get_secret_value()}".encode()
    given = request.headers.get("authorization", "").encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(given, expected):
        raise errors.unauthorized()


async def read_body(request: Request, limit: int) -> bytes:
    """Read at most `limit` bytes; a larger body is refused from its header, before it is read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise errors.too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise errors.too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


def validation_error(exc: ValidationError) -> errors.ApiError:
    field, message = first_error(exc, "body")
    if exc.errors()[0]["type"] == "string_pattern_mismatch":
        message = "text must contain a non-whitespace character"
    return errors.invalid_field(field, message)


def parse_request(body: bytes, model: type[ClassifyRequestBase]) -> Any:
    """Validate straight from bytes; only when that fails, find out why for a message naming the field.

    The fast parser refuses lone surrogates as invalid JSON; the standard library accepts them, so a
    body it can read is valid JSON whose text is the problem, and the error names that text's field.
    """
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] != "json_invalid":
            raise validation_error(exc) from None
        parsed = parse_unusual_json(body, model, first["msg"])
    if (parsed.text is None) == (parsed.texts is None):
        raise errors.invalid_field("text", "give exactly one of 'text' or 'texts'")
    return parsed


def parse_unusual_json(body: bytes, model: type[ClassifyRequestBase], reason: str) -> Any:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise errors.invalid_json(reason) from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise validation_error(exc) from None


def select_bundles(state: ServiceState, names: Sequence[str] | None) -> list[ServedBundle]:
    if not state.ready:
        raise errors.not_ready("bundles are loading or the server is draining")
    if names is None:
        return list(state.bundles.values())
    for index, name in enumerate(names):
        if name not in state.bundles:
            available = ", ".join(state.bundles)
            raise errors.invalid_field(f"models.{index}", f"unknown model '{name}'; available: {available}")
    return [state.bundles[name] for name in dict.fromkeys(names)]


async def predict_explained(
    state: ServiceState, bundles: list[ServedBundle], texts: list[str], many: bool, request: Request, started: float
) -> list[list[Any]]:
    """Each bundle gets the texts and their occluded variants; answers come back with `explanation`."""
    fields = [f"texts.{index}" for index in range(len(texts))] if many else ["text"]
    limit = state.settings.explain_max_tokens
    plans = [plan_explanations(bundle, texts, fields, limit) for bundle in bundles]
    answers = await predict_all(state, [(bundle, plan.items) for bundle, plan in zip(bundles, plans)], request, started)
    return [attach_explanations(bundle, texts, plan, answer) for bundle, plan, answer in zip(bundles, plans, answers)]


async def predict_all(
    state: ServiceState, work: list[tuple[ServedBundle, Sequence[Any]]], request: Request, started: float
) -> list[list[Any]]:
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


async def runs_alone(state: ServiceState, work: list[tuple[ServedBundle, Sequence[Any]]], started: float) -> bool:
    """One text for one bundle, before its deadline, and nobody else around."""
    if len(work) != 1 or len(work[0][1]) != 1:
        return False
    return remaining_s(state, started) > 0 and await state.idle_gate.alone(work[0][0].batcher)


def remaining_s(state: ServiceState, started: float) -> float:
    return state.settings.request_timeout_s - (time.perf_counter() - started)


def submit_all(state: ServiceState, work: list[tuple[ServedBundle, Sequence[Any]]]) -> list[asyncio.Future]:
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

