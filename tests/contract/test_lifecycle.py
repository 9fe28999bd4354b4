"""Graceful drain: SIGTERM under load loses no accepted request, refuses new connections, exits in time."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.support import MODEL_DIR, LiveServer, metric_samples

pytestmark = pytest.mark.anyio

TEXTS = [f"show me all flights from boston to denver leaving on monday number {i}" for i in range(64)]


async def wait_for_queue(client: httpx.AsyncClient, model: str) -> None:
    """Return once the server holds queued work, so the signal lands while requests are in flight."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        depth = metric_samples((await client.get("/metrics")).text, "seqserve_queue_depth")
        if depth.get(f'{{model="{model}"}}', 0) > 0:
            return
        await asyncio.sleep(0.005)
    raise AssertionError("the server never queued work")


async def drain_under_load(
    server: LiveServer, requests: int, refused: tuple[type[Exception], ...] = (httpx.ConnectError,)
) -> None:
    limits = httpx.Limits(max_connections=requests + 1)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
        body = {"texts": TEXTS, "models": ["atis"]}
        in_flight = [asyncio.ensure_future(client.post("/classify", json=body)) for _ in range(requests)]
        await wait_for_queue(client, "atis")
        signalled = time.monotonic()
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        responses = await asyncio.gather(*in_flight, return_exceptions=True)
    lost = [r for r in responses if not isinstance(r, httpx.Response) or r.status_code != 200]
    assert lost == [], f"{len(lost)} of {requests} accepted requests lost: {lost[:3]}"
    assert all(len(r.json()["results"]) == len(TEXTS) for r in responses)
    with pytest.raises(refused):
        httpx.get(f"{server.url}/healthz", timeout=5)
    # uvicorn re-raises the signal once its graceful shutdown is done, so "killed by SIGTERM" is the clean exit
    assert server.stop(timeout=30) in (0, -signal.SIGTERM)
    assert time.monotonic() - signalled < 10  # SEQSERVE_REQUEST_TIMEOUT_S


async def test_sigterm_under_load_answers_every_accepted_request(tmp_path: Path) -> None:
    env = {
        "SEQSERVE_MODEL_DIR": str(MODEL_DIR),
        "SEQSERVE_MODELS": "atis",
        "SEQSERVE_MAX_QUEUE": "100000",
        "SEQSERVE_METRICS_DIR": str(tmp_path),
    }
    await drain_under_load(LiveServer(env).start(), requests=40)
