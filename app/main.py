"""create_app(settings): the lifespan loads and warms the bundles, starts their batchers, and drains them.

`uvicorn app.main:app` serves the default settings from the environment; tests call `create_app(...)`.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import torch
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from app.config import Settings
from app.control import register_control
from app.control_log import ControlLog
from app.drain_notice import DrainNotice
from app.errors import register_error_handlers
from app.inference_protocol import register_inference_protocol
from app.inference_schemas import open_inference_paths
from app.metrics import Metrics, server_metrics_dir, server_owner
from app.middleware import OneLineStartupErrors, RequestMetrics, StartupRefused
from app.openapi import install_openapi
from app.pages import register_pages
from app.placement import keep_fp32_exact
from app.reloader import Reloader
from app.routes import register_routes
from app.schemas import classify_request_model
from app.state import ServiceState
from model.manifest import BundleError

log = logging.getLogger("seqserve")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; nothing is loaded until the lifespan starts."""
    settings = settings or Settings()
    request_model = classify_request_model(settings)
    state = ServiceState(settings, request_model)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, DrainNotice | None]]:
        await start(state)
        try:
            yield {"drain_notice": state.drain_notice}  # the server's HTTP protocol reads it (lifespan state)
        finally:
            await drain(state)

    app = FastAPI(
        title="seqserve",
        version="0.1.0",
        summary="BiLSTM sentiment and slot-tagging models behind one batched endpoint",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load their scripts from public CDNs; app.pages serves them itself
        redoc_url=None,
    )
    app.state.service = state
    register_error_handlers(app)
    register_inference_protocol(app.router.routes)
    register_routes(app)  # after: /classify, the busiest route, is the first the router tries
    if settings.model_control:
        register_control(app)
    install_openapi(
        app,
        request_model,
        lambda: state.registry.model_entries() if state.ready else [],
        lambda: open_inference_paths(state.registry if state.ready else None, settings),
    )
    register_pages(app)

    def observe(route: str, method: str, status: int, seconds: float) -> None:
        if state.metrics is not None:
            state.metrics.request_latency.labels(route, method, str(status)).observe(seconds)

    paths = frozenset(getattr(route, "path", "") for route in app.routes)
    app.add_middleware(RequestMetrics, observe=observe, paths=paths)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
        )
    app.add_middleware(OneLineStartupErrors)
    return app


async def start(state: ServiceState) -> None:
    settings = state.settings
    configure_logging(settings.log_level)
    torch.set_num_threads(settings.torch_threads)
    server_dir = server_metrics_dir(settings.metrics_dir)
    state.metrics = Metrics(server_dir)
    state.drain_notice = DrainNotice(server_dir)
    control = ControlLog(server_dir, server_owner()) if settings.model_control else None
    state.reloader = Reloader(settings, state.registry, state.metrics, control)
    try:
        if settings.torch_device().type == "cuda":
            keep_fp32_exact()
        await state.reloader.start()
    except (BundleError, RuntimeError) as exc:
        raise StartupRefused(str(exc)) from None
    # The long-lived objects (torch, FastAPI, bundles) made each full collection a pause of many
    # requests' length (p99 in bench/serve.py); frozen, the collector only walks what requests allocate.
    gc.collect()
    gc.freeze()
    state.reloader.begin()
    state.ready = True
    log.info("ready: %s", ", ".join(f"{b.name} {b.version}" for b in state.registry.defaults()))


async def drain(state: ServiceState) -> None:
    """Stop reporting ready, answer everything already queued, then stop the batchers."""
    state.ready = False
    if state.reloader is not None:
        await state.reloader.close()
    if state.metrics is not None:
        state.metrics.mark_process_dead()
    log.info("drained")


def configure_logging(level: str) -> None:
    """The service's own lines ("ready", "drained", bundle loads) beside uvicorn's, at the same level."""
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(name)s: %(message)s"))
        log.addHandler(handler)
        log.propagate = False
    log.setLevel(level.upper())


app = create_app()
