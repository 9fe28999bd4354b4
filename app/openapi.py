"""/openapi.json: FastAPI's document for the plain routes, plus `/classify` and `/v2`, described here once.

`/classify` is a plain Starlette route (FastAPI's per-request dependency machinery is a visible share
of a request: `bench/breakdown.py` measures it), so FastAPI does not see it. Its operation is added
from the request model with this server's limits, the loaded bundle names, and the response models.
The Open Inference Protocol's routes are plain routes too, for the same reason; their paths and
schemas come from app.inference_schemas.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from app.routes import JSON
from app.schemas import (
    BatchResponse,
    ClassifyRequestBase,
    ErrorResponse,
    SingleResponse,
    classify_request_schema,
)

REF = "#/components/schemas/{model}"
ERRORS = {
    400: "malformed JSON",
    401: "missing or wrong API key",
    413: "body too large",
    422: "a field is invalid; `error.field` names it",
    503: "overloaded, loading or draining: retry",
    504: "not answered within the request timeout",
}


def install_openapi(
    app: FastAPI,
    request_model: type[ClassifyRequestBase],
    bundle_names: Callable[[], list[str]],
    protocol_paths: Callable[[], tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    """Replace `app.openapi` with one that documents `/classify` and `/v2` (`protocol_paths`: paths and
    schemas) for the versions loaded now: cached until the repository changes what `bundle_names` lists
    (`NAME` and `NAME@VERSION` entries)."""
    cached: list[Any] = [None, None]  # (names, spec)

    def openapi() -> dict[str, Any]:
        names = bundle_names()
        if cached[0] == names:
            return cached[1]  # type: ignore[no-any-return]
        spec = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        _, definitions = models_json_schema(
            [(model, "serialization") for model in (SingleResponse, BatchResponse, ErrorResponse)],
            ref_template=REF,
        )
        schemas.update(definitions["$defs"])
        spec["paths"]["/classify"] = {"post": classify_operation(request_model, names)}
        paths, protocol_schemas = protocol_paths()
        spec["paths"].update(paths)
        schemas.update(protocol_schemas)
        if names:  # before the bundles load, the names are not known yet: document, but do not keep
            cached[:] = [names, spec]
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def classify_operation(request_model: type[ClassifyRequestBase], names: list[str]) -> dict[str, Any]:
    request = classify_request_schema(request_model)
    if names:
        request["properties"]["models"]["items"]["enum"] = names
    answers = {
        "anyOf": [{"$ref": REF.format(model=model.__name__)} for model in (SingleResponse, BatchResponse)]
    }
    error = {JSON: {"schema": {"$ref": REF.format(model=ErrorResponse.__name__)}}}
    return {
        "summary": "Classify one text or several",
        "operationId": "classify",
        "requestBody": {"required": True, "content": {JSON: {"schema": request}}},
        "responses": {
            "200": {
                "description": "one result (`text`) or one per text (`texts`)",
                "content": {JSON: {"schema": answers}},
            },
            **{str(status): {"description": why, "content": error} for status, why in ERRORS.items()},
        },
    }
