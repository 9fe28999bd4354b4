"""The pages a person opens: the playground at `/`, Swagger UI at `/docs`, ReDoc at `/redoc`.

Static files served by the app itself (the docs' scripts from the `fastapi-offline` package), so they
work on a network without internet access. Every page is sent with a Content-Security-Policy that
allows scripts, styles, images and requests only from this server and no inline scripts at all. ReDoc
alone also needs inline styles and a worker built from a blob: its page allows those, and still no
inline script.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from starlette.responses import FileResponse
from starlette.staticfiles import StaticFiles

WEB = Path(__file__).parent / "web"
DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"

POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# ReDoc writes its CSS into <style> elements and runs its search index in a worker made from a blob
REDOC_POLICY = POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'") + "; worker-src blob:"


def page_headers(policy: str) -> dict[str, str]:
    return {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def register_pages(app: FastAPI) -> None:
    """Routes for the three pages and mounts for their files; none of them appears in the OpenAPI schema."""

    def page(path: str, file: str, headers: dict[str, str]) -> None:
        async def serve() -> FileResponse:
            return FileResponse(WEB / file, media_type="text/html", headers=headers)

        app.get(path, include_in_schema=False)(serve)

    page("/", "playground.html", page_headers(POLICY))
    page("/docs", "docs.html", page_headers(POLICY))
    page("/redoc", "redoc.html", page_headers(REDOC_POLICY))
    app.mount("/static", StaticFiles(directory=WEB / "static"), name="static")
    app.mount("/docs-assets", StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
