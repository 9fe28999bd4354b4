"""One `client` fixture, three ways: in-process (ASGI + lifespan), a live uvicorn, or SEQSERVE_URL.

The same contract tests run against each. With SEQSERVE_URL set (the container in CI), only that one.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import httpx
import pytest

from app.config import Settings
from tests.support import MODEL_DIR, inprocess_client, live_server

EXTERNAL_URL = os.environ.get("SEQSERVE_URL")
MODES = ["external"] if EXTERNAL_URL else ["inprocess", "live"]


@pytest.fixture(scope="session", params=MODES)
async def client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[httpx.AsyncClient]:
    mode = request.param
    if mode == "external":
        async with httpx.AsyncClient(base_url=str(EXTERNAL_URL), timeout=60) as external:
            yield external
    elif mode == "inprocess":
        metrics_dir = tmp_path_factory.mktemp("metrics-inprocess")
        async with inprocess_client(Settings(model_dir=MODEL_DIR, metrics_dir=metrics_dir)) as inprocess:
            yield inprocess
    else:
        env = {"SEQSERVE_MODEL_DIR": str(MODEL_DIR), "SEQSERVE_METRICS_DIR": str(tmp_path_factory.mktemp("metrics-live"))}
        with live_server(env) as server:
            async with httpx.AsyncClient(base_url=server.url, timeout=60) as live:
                yield live
