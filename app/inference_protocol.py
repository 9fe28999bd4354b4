"""The Open Inference Protocol (KServe v2, Triton's HTTP API) on the service's port: thin handlers.

Each handler checks the key and reads the body as /classify does (app.requests), finds the model version its
URL names (app.dispatch: 404 when none is loaded), and runs texts through `dispatch.answer`: the same
batchers, limits, deadlines (504), overload answers (503) and metrics as /classify. Messages are built in
app.inference_io; errors under /v2 take the protocol's `{"error": "..."}` shape (app.errors). The routes
are plain Starlette routes, as /classify is, and app.inference_schemas documents them in /openapi.json.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from app import dispatch, errors
from app.bundles import ServedBundle
from app.inference_io import EXTENSIONS, HEADER_LENGTH, inference_response, model_metadata, read_call
from app.middleware import TemplateRoute
from app.requests import check_auth, read_body
from app.routes import json_response, service

MODEL = "/v2/models/{model_name}"
VERSION = MODEL + "/versions/{model_version}"


def named_model(request: Request) -> ServedBundle:
    state = service(request)
    check_auth(request, state.settings)
    params = request.path_params
    return dispatch.model_version(state, params["model_name"], params.get("model_version"))


async def infer(request: Request) -> Response:
    started = time.perf_counter()
    state = service(request)
    bundle = named_model(request)
    body = await read_body(request, state.settings.max_body_bytes)
    call = read_call(body, request.headers.get(HEADER_LENGTH), bundle, state.settings)
    fields = [f"inputs.0.data.{index}" for index in range(len(call.texts))]
    (payloads,) = await dispatch.answer(state, request, [bundle], call.texts, fields, False, True, started)
    content, header = inference_response(bundle, call, payloads)
    if header is None:
        return Response(content, media_type="application/json")
    return Response(content, media_type="application/octet-stream", headers={HEADER_LENGTH: str(header)})


async def metadata(request: Request) -> Response:
    bundle = named_model(request)
    versions = [served.version for served in service(request).registry.serving(bundle.name)]
    return json_response(model_metadata(bundle, versions))


async def model_ready(request: Request) -> Response:
    """Ready while the server takes new clients (503 with `ready: false` once it drains)."""
    bundle = named_model(request)
    ready = service(request).accepting_new_clients()
    return json_response({"name": bundle.name, "ready": ready}, 200 if ready else 503)


async def server_metadata(request: Request) -> Response:
    return json_response({"name": request.app.title, "version": request.app.version, "extensions": EXTENSIONS})


async def server_live(request: Request) -> Response:
    return json_response({"live": True})


async def server_ready(request: Request) -> Response:
    """What /readyz answers: loaded, warm, and not draining."""
    if not service(request).accepting_new_clients():
        raise errors.not_ready("bundles are loading or the server is draining")
    return json_response({"ready": True})


ROUTES: list[tuple[str, Any, str]] = [
    ("/v2", server_metadata, "GET"),
    ("/v2/health/live", server_live, "GET"),
    ("/v2/health/ready", server_ready, "GET"),
    (MODEL, metadata, "GET"),
    (MODEL + "/ready", model_ready, "GET"),
    (MODEL + "/infer", infer, "POST"),
    (VERSION, metadata, "GET"),
    (VERSION + "/ready", model_ready, "GET"),
    (VERSION + "/infer", infer, "POST"),
]


def register_inference_protocol(routes: list[Any]) -> None:
    """Put the protocol's routes at the head of the app's routing table (only /classify goes before them)."""
    routes[0:0] = [TemplateRoute(path, handler, methods=[method]) for path, handler, method in ROUTES]
