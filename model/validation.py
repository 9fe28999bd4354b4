"""pydantic's first complaint as one line naming the field: the form every refusal of this project takes."""

from __future__ import annotations

from pydantic import ValidationError


def first_error(exc: ValidationError, whole: str) -> tuple[str, str]:
    """(dotted field, message) of the first error: ("texts", 3) → "texts.3"; `whole` when no field is named.

    A request body's errors start at "body" (FastAPI); that part names nothing and is left out.
    """
    first = exc.errors()[0]
    parts = [str(part) for part in first["loc"]]
    if parts[:1] == ["body"]:
        parts = parts[1:]
    return ".".join(parts) or whole, first["msg"]
