"""Several uvicorn workers act as one server: all answer, /metrics from any of them counts everything."""

from __future__ import annotations

import asyncio
import httpx
import pytest

from tests.contract.test_lifecycle import drain_under_load
from tests.support import MODEL_DIR, LiveServer, metric_samples

pytestmark = pytest.mark.anyio

CLASSIFY_OK = '{method="POST",route="/classify",status="200"}'


async def test_two_workers_answer_400_concurrent_requests_and_metrics_count_all_of_them() -> None:
    env = {
        "SEQSERVE_MODEL_DIR": str(MODEL_DIR),
        "SEQSERVE_MODELS": "atis,sentiment",
        # the kernel may hand most of a 400-request burst to one worker: more than its default queue
        "SEQSERVE_MAX_QUEUE": "400",
    }
    with LiveServer(env, args=("--workers", "2")) as server:
        limits = httpx.Limits(max_connections=400)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            bodies = [{"text": f"fly from boston to denver {i}", "models": ["atis"]} for i in range(400)]
            responses = await asyncio.gather(*(client.post("/classify", json=body) for body in bodies))
            assert [r.status_code for r in responses] == [200] * 400
        for _ in range(12):  # fresh connections spread over both workers
            scrape = httpx.get(f"{server.url}/metrics", headers={"Connection": "close"}, timeout=10).text
            latency = metric_samples(scrape, "seqserve_request_duration_seconds_count")
            assert latency[CLASSIFY_OK] == 400
            assert metric_samples(scrape, "seqserve_batch_size_sum")['{model="atis"}'] == 400
            loaded = metric_samples(scrape, "seqserve_model_loaded")
            assert sum(loaded.values()) == 4  # 2 bundles × 2 live workers


async def test_two_workers_drain_every_accepted_request_on_sigterm() -> None:
    """Plain `uvicorn --workers`: its supervisor holds the socket until the end, so a connection made
    during the drain is reset rather than refused; `python -m app` (below) refuses it at once."""
    env = {"SEQSERVE_MODEL_DIR": str(MODEL_DIR), "SEQSERVE_MODELS": "atis", "SEQSERVE_MAX_QUEUE": "100000"}
    server = LiveServer(env, args=("--workers", "2")).start()
    await drain_under_load(server, requests=40, refused=(httpx.ConnectError, httpx.ReadError))


async def test_the_container_launcher_runs_workers_and_drains_them() -> None:
    env = {
        "SEQSERVE_MODEL_DIR": str(MODEL_DIR),
        "SEQSERVE_MODELS": "atis",
        "SEQSERVE_MAX_QUEUE": "100000",
        "SEQSERVE_WORKERS": "2",
    }
    await drain_under_load(LiveServer(env, launcher=True).start(), requests=40)
