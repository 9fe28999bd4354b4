"""Health, readiness, metrics and docs, as an orchestrator and an operator use them."""

from __future__ import annotations

import re

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})


async def test_metrics_expose_the_documented_instruments(client: httpx.AsyncClient) -> None:
    await client.post("/classify", json={"text": "fly to boston"})
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        'seqserve_request_duration_seconds_bucket{le="0.005",method="POST",route="/classify",status="200"}',
        'seqserve_batch_size_count{model="atis"}',
        'seqserve_inference_duration_seconds_count{model="sentiment"}',
        'seqserve_queue_depth{model="snips"}',
        "seqserve_model_loaded{",
    ):
        assert name in text, name


async def test_openapi_documents_classify_with_examples(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    operation = spec["paths"]["/classify"]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"text", "texts", "models"} <= set(schema["properties"])
    assert schema["examples"]
    assert {"200", "400", "413", "422", "503", "504"} <= set(operation["responses"])
    assert (await client.get("/docs")).status_code == 200


@pytest.mark.parametrize("path", ["/", "/docs", "/redoc"])
async def test_pages_load_everything_from_this_server_under_a_strict_policy(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src 'self';" in policy
    assert "<script>" not in response.text and "http" not in response.text  # no inline script, no other host
    assets = re.findall(r'(?:src|href)="(/(?:static|docs-assets)/[^"]+)"', response.text)
    assert assets
    for asset in assets:
        assert (await client.get(asset)).status_code == 200, asset
