"""Thin handlers: read and check the request (app.requests) → app.dispatch → encode the answer.

`/classify` is a plain Starlette route (FastAPI's per-request dependency machinery is a visible share of
a request; app.openapi documents it); the others are FastAPI routes documented from their response models.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from fastapi import FastAPI, Request
from starlette.responses import Response
from starlette.routing import Route

from app import dispatch, errors
from app.requests import check_auth, parse_json, read_body
from app.schemas import ErrorResponse, HealthResponse, ModelsResponse
from app.state import ServiceState

JSON = "application/json"


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status_code=status, media_type=JSON)


def error_docs(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorResponse} for status in statuses}


def service(request: Request) -> ServiceState:
    return request.app.state.service  # type: ignore[no-any-return]


async def classify(request: Request) -> Response:
    started = time.perf_counter()
    state = service(request)
    check_auth(request, state.settings)
    parsed = parse_json(await read_body(request, state.settings.max_body_bytes), state.request_model)
    if (parsed.text is None) == (parsed.texts is None):
        raise errors.invalid_field("text", "give exactly one of 'text' or 'texts'")
    single = parsed.text is not None
    texts = [parsed.text] if single else parsed.texts
    fields = ["text"] if single else [f"texts.{index}" for index in range(len(texts))]
    bundles = dispatch.select_bundles(state, parsed.models)
    per_bundle = await dispatch.answer(state, request, bundles, texts, fields, parsed.explain, parsed.abstain, started)
    versions = {bundle.name: bundle.version for bundle in bundles}
    results = [
        {"text": text, "predictions": {bundle.name: answers[i] for bundle, answers in zip(bundles, per_bundle)}}
        for i, text in enumerate(texts)
    ]
    if single:
        return json_response({**results[0], "model_versions": versions})
    return json_response({"results": results, "model_versions": versions})


async def models(request: Request) -> Response:
    state = service(request)
    check_auth(request, state.settings)
    registry = state.registry
    return json_response({"models": [bundle.info(registry.default(bundle.name) is bundle)
                                     for bundle in registry.serving()]})


async def healthz() -> Response:
    return json_response({"status": "ok"})


async def readyz(request: Request) -> Response:
    if not service(request).accepting_new_clients():
        raise errors.not_ready("bundles are loading or the server is draining")
    return json_response({"status": "ready"})


async def metrics(request: Request) -> Response:
    state = service(request)
    if state.metrics is None:
        raise errors.not_ready("metrics start with the server")
    content, content_type = state.metrics.render()
    return Response(content, media_type=content_type)


def register_routes(app: FastAPI) -> None:
    app.router.routes.insert(0, Route("/classify", classify, methods=["POST"]))  # documented by app.openapi
    app.get("/models", response_model=ModelsResponse, responses=error_docs(401))(models)
    app.get("/healthz", response_model=HealthResponse, summary="The process is alive")(healthz)
    app.get(
        "/readyz",
        response_model=HealthResponse,
        responses=error_docs(503),
        summary="Every bundle is loaded and warmed up (503 before, and while draining)",
    )(readyz)
    app.get("/metrics", summary="Prometheus metrics of the whole server (all workers)", response_class=Response)(
        metrics
    )
