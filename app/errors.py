"""Domain errors → JSON bodies with a status, a code, a message and the offending field.

Every error the service returns is an `ApiError`, turned into a body once, by the handlers registered in
`create_app`, in the shape of the protocol the path belongs to: the service's own
`{"error": {"code": "invalid_field", "message": "...", "field": "texts.3"}}`, or under `/v2` the Open
Inference Protocol's `{"error": "..."}` (its clients read that string). No stack traces, no paths.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from model.validation import first_error

log = logging.getLogger("seqserve.errors")


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})


def invalid_json(message: str) -> ApiError:
    return ApiError(400, "invalid_json", message, "body")


def invalid_field(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid_field", message, field)


def too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"request body is larger than {limit} bytes", "body")


def unauthorized() -> ApiError:
    return ApiError(
        401, "unauthorized", "missing or wrong bearer token", "Authorization", {"WWW-Authenticate": "Bearer"}
    )


def overloaded(retry_after_s: int = 1) -> ApiError:
    return ApiError(
        503, "overloaded", "the server is at capacity, retry shortly", None, {"Retry-After": str(retry_after_s)}
    )


def not_ready(reason: str) -> ApiError:
    return ApiError(503, "not_ready", reason, None, {"Retry-After": "1"})


def timed_out(seconds: float) -> ApiError:
    return ApiError(504, "timeout", f"no answer within {seconds:g} s", None)


def not_found(message: str, field: str) -> ApiError:
    return ApiError(404, "not_found", message, field)


def open_inference_path(path: str) -> bool:
    """Paths of the Open Inference Protocol (`/v2` and below), whose errors take that protocol's shape."""
    return path == "/v2" or path.startswith("/v2/")


def error_response(error: ApiError, path: str = "") -> Response:
    if open_inference_path(path):
        body: dict[str, object] = {"error": error.message}
    else:
        body = {"error": {"code": error.code, "message": error.message, "field": error.field}}
    return Response(orjson.dumps(body), status_code=error.status, media_type="application/json", headers=error.headers)


def register_error_handlers(app: FastAPI) -> None:
    async def on_api_error(request: Request, exc: ApiError) -> Response:
        return error_response(exc, request.url.path)

    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        field = {404: "path", 405: "method"}.get(exc.status_code)
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(ApiError(exc.status_code, code, str(exc.detail), field, exc.headers), request.url.path)

    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_response(invalid_field(*first_error(exc, "body")), request.url.path)  # type: ignore[arg-type]

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(ApiError(500, "internal", "internal error", None), request.url.path)

    app.add_exception_handler(ApiError, on_api_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, on_http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, on_unexpected)
