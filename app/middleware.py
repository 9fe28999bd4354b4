"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task and a copy per request)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class StartupRefused(Exception):
    """Start-up cannot go on (a bad bundle, a missing device); the message is one line for the operator."""


class RequestMetrics:
    """Observe every HTTP request's latency by route template, method and status."""

    def __init__(self, app: ASGIApp, observe: Callable[[str, str, int, float], None], paths: frozenset[str]) -> None:
        self.app = app
        self.observe = observe
        self.paths = paths  # the app's own route templates; anything else is one "unmatched" label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # a templated route by its template (`/v2/models/{model_name}/infer`), left in the scope by the
            # route; unknown paths share one label: a scanner cannot blow up the number of series
            route = scope.get("route")
            path = route.path if route is not None else scope["path"]
            self.observe(path if path in self.paths else "unmatched", scope["method"], status,
                         time.perf_counter() - started)


class TemplateRoute(Route):
    """A plain Starlette route that leaves itself in the scope, as FastAPI's own routes do, so that
    RequestMetrics labels a request by the route's template rather than by its path."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["route"] = self
        await super().handle(scope, receive, send)


class OneLineStartupErrors:
    """Report a refused start-up as its one-line reason instead of a traceback.

    Starlette sends `lifespan.startup.failed` with the whole traceback as the message, and uvicorn logs
    it; for a bad bundle the operator needs the line that names the bundle and the failed check.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}

        async def send_holding_failure(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                held["message"] = message
                return
            await send(message)

        try:
            await self.app(scope, receive, send_holding_failure)
        except StartupRefused as exc:
            await send({"type": "lifespan.startup.failed", "message": f"start-up refused: {exc}"})
            raise  # uvicorn logs only the message above; test harnesses see the exception
        except BaseException:
            if "message" in held:
                await send(held["message"])
            raise
        if "message" in held:
            await send(held["message"])
