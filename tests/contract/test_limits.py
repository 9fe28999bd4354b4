"""Overload, timeouts and readiness with settings chosen to make each outcome certain (in process)."""

from __future__ import annotations

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from tests.support import MODEL_DIR, inprocess_client

pytestmark = pytest.mark.anyio


def settings(tmp_path, **overrides) -> Settings:
    return Settings(model_dir=MODEL_DIR, models=["sentiment"], metrics_dir=tmp_path, **overrides)


async def test_request_larger_than_the_queue_gets_503_with_retry_after(tmp_path) -> None:
    async with inprocess_client(settings(tmp_path, max_queue=1)) as client:
        response = await client.post("/classify", json={"texts": ["good", "bad"]})
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "overloaded"
        assert (await client.post("/classify", json={"text": "good"})).status_code == 200


async def test_explained_variants_count_against_the_queue_bound(tmp_path) -> None:
    async with inprocess_client(settings(tmp_path, max_queue=4)) as client:
        fits = await client.post("/classify", json={"text": "good film", "explain": True})  # 1 text + 2 variants
        assert fits.status_code == 200 and len(fits.json()["predictions"]["sentiment"]["explanation"]) == 2
        response = await client.post("/classify", json={"text": "a very good film", "explain": True})  # 1 + 4
        assert response.status_code == 422
        assert response.json()["error"]["field"] == "explain"
        assert "5 forwards" in response.json()["error"]["message"]


async def test_request_past_its_timeout_gets_504(tmp_path) -> None:
    async with inprocess_client(settings(tmp_path, request_timeout_s=1e-9)) as client:
        response = await client.post("/classify", json={"text": "good"})
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "timeout"


async def test_not_ready_before_the_lifespan_has_loaded_the_bundles(tmp_path) -> None:
    app = create_app(settings(tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 503
        response = await client.post("/classify", json={"text": "good"})
        assert response.status_code == 503 and response.headers["retry-after"] == "1"


async def test_api_key_guards_classify_and_models_but_not_probes(tmp_path) -> None:
    async with inprocess_client(settings(tmp_path, api_key="s3cret")) as client:
        for method, path in (("POST", "/classify"), ("GET", "/models")):
            response = await client.request(method, path, json={"text": "good"})
            assert response.status_code == 401
            assert response.json()["error"]["field"] == "Authorization"
            assert response.headers["www-authenticate"] == "Bearer"
        wrong = await client.post("/classify", json={"text": "good"}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        right = await client.post("/classify", json={"text": "good"}, headers={"Authorization": "Bearer s3cret"})
        assert right.status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200


async def test_cors_is_closed_unless_origins_are_configured(tmp_path) -> None:
    preflight = {"Origin": "https://example.com", "Access-Control-Request-Method": "POST"}
    async with inprocess_client(settings(tmp_path)) as client:
        response = await client.options("/classify", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    async with inprocess_client(settings(tmp_path, cors_origins=["https://example.com"])) as client:
        response = await client.options("/classify", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://example.com"


def infer_body(*texts: str) -> dict:
    return {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": list(texts)}]}


async def test_v2_shares_the_queue_bound_the_deadline_and_readiness(tmp_path) -> None:
    async with inprocess_client(settings(tmp_path, max_queue=1)) as client:
        response = await client.post("/v2/models/sentiment/infer", json=infer_body("good", "bad"))
        assert (response.status_code, response.headers["retry-after"]) == (503, "1")
        assert set(response.json()) == {"error"}
        assert (await client.post("/v2/models/sentiment/infer", json=infer_body("good"))).status_code == 200
    async with inprocess_client(settings(tmp_path, request_timeout_s=1e-9)) as client:
        response = await client.post("/v2/models/sentiment/infer", json=infer_body("good"))
        assert response.status_code == 504 and response.json() == {"error": "no answer within 1e-09 s"}
    app = create_app(settings(tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
        assert (await client.get("/v2/health/live")).status_code == 200
        assert (await client.get("/v2/health/ready")).status_code == 503
        assert (await client.post("/v2/models/sentiment/infer", json=infer_body("good"))).status_code == 503


async def test_v2_takes_the_same_text_count_length_and_body_limits(tmp_path) -> None:
    limits = {"max_texts": 2, "max_text_chars": 10, "max_body_bytes": 1024}
    async with inprocess_client(settings(tmp_path, **limits)) as client:
        assert (await client.post("/v2/models/sentiment/infer", json=infer_body("good", "bad"))).status_code == 200
        for body, status in ((infer_body("a", "b", "c"), 400), (infer_body("x" * 11), 400),
                             (infer_body("x" * 10), 200), (infer_body("x" * 300, "y" * 300, "z" * 500), 413)):
            response = await client.post("/v2/models/sentiment/infer", json=body)
            assert response.status_code == status, response.text
            assert status == 200 or set(response.json()) == {"error"}


async def test_api_key_guards_v2_models_but_not_its_probes(tmp_path) -> None:
    key = {"Authorization": "Bearer s3cret"}
    async with inprocess_client(settings(tmp_path, api_key="s3cret")) as client:
        for method, path in (("POST", "/v2/models/sentiment/infer"), ("GET", "/v2/models/sentiment"),
                             ("GET", "/v2/models/sentiment/ready")):
            response = await client.request(method, path, json=infer_body("good"))
            assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
            assert response.json() == {"error": "missing or wrong bearer token"}
            assert (await client.request(method, path, json=infer_body("good"), headers=key)).status_code == 200
        for path in ("/v2", "/v2/health/live", "/v2/health/ready"):
            assert (await client.get(path)).status_code == 200
