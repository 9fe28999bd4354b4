"""Reading a request before any work: the API key, the body within its size limit, JSON into a model.

Shared by every protocol's handlers; each failure is one of `app.errors`, naming the field to blame.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from starlette.requests import Request

from app import errors
from app.config import Settings
from app.schemas import BLANK_TEXT
from model.validation import first_error


def check_auth(request: Request, settings: Settings) -> None:
    check_key(request, settings.api_key)


def check_key(request: Request, key: SecretStr | None) -> None:
    """401 unless the request carries `Authorization: Bearer <key>` (compared in constant time)."""
    if key is None:
        return
    expected = f"Bearer {key.get_secret_value()}".encode()
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


def parse_json(body: bytes, model: type[BaseModel]) -> Any:
    """Validate straight from bytes; only when that fails, find out why for a message naming the field.

    The fast parser refuses lone surrogates as invalid JSON; the standard library accepts them, so a
    body it can read is valid JSON whose text is the problem, and the error names that text's field.
    """
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] != "json_invalid":
            raise validation_error(exc) from None
        reason = first["msg"]
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise errors.invalid_json(reason) from None
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        raise validation_error(exc) from None


def validation_error(exc: ValidationError) -> errors.ApiError:
    field, message = first_error(exc, "body")
    if exc.errors()[0]["type"] == "string_pattern_mismatch":
        message = BLANK_TEXT
    return errors.invalid_field(field, message)
