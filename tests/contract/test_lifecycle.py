"""Graceful drain: SIGTERM under load loses no accepted request, refuses new connections, exits in time."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from app.drain_notice import RECHECK_S
from tests.support import MODEL_DIR, LiveServer, metric_samples

pytestmark = pytest.mark.anyio

TEXTS = [f"show me all flights from boston to denver leaving on monday number {i}" for i in range(64)]


def atis_server_env(metrics_dir: Path) -> dict[str, str]:
    """ATIS alone, with a queue no test here can fill: these tests are about draining, not shedding."""
    return {
        "SEQSERVE_MODEL_DIR": str(MODEL_DIR),
        "SEQSERVE_MODELS": "atis",
        "SEQSERVE_MAX_QUEUE": "100000",
        "SEQSERVE_METRICS_DIR": str(metrics_dir),
    }


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
    server: LiveServer,
    requests: int,
    refused: tuple[type[Exception], ...] = (httpx.ConnectError,),
    drain_delay_s: float = 0,
) -> None:
    """SIGTERM while `requests` are queued; with a drain delay the server first turns unready and goes on
    taking new connections for that long."""
    limits = httpx.Limits(max_connections=requests + 1)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
        body = {"texts": TEXTS, "models": ["atis"]}
        in_flight = [asyncio.ensure_future(client.post("/classify", json=body)) for _ in range(requests)]
        await wait_for_queue(client, "atis")
        signalled = time.monotonic()
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        if drain_delay_s:
            await asyncio.to_thread(assert_unready_but_serving, server.url, signalled + drain_delay_s - 0.5)
        responses = await asyncio.gather(*in_flight, return_exceptions=True)
    lost = [r for r in responses if not isinstance(r, httpx.Response) or r.status_code != 200]
    assert lost == [], f"{len(lost)} of {requests} accepted requests lost: {lost[:3]}"
    assert all(len(r.json()["results"]) == len(TEXTS) for r in responses)
    assert_new_connections_end_refused(server.url, refused)
    # uvicorn re-raises the signal once its graceful shutdown is done, so "killed by SIGTERM" is the clean exit
    assert server.stop(timeout=30) in (0, -signal.SIGTERM)
    assert drain_delay_s <= time.monotonic() - signalled < drain_delay_s + 10  # + SEQSERVE_REQUEST_TIMEOUT_S


def assert_unready_but_serving(url: str, until: float) -> None:
    """/readyz says 503 within a second of the signal (a supervisor polls for it every 0.5 s), while new
    connections are still accepted and answered until `until`, each answer asking the client to close."""
    deadline = time.monotonic() + 1
    while httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
        assert time.monotonic() < deadline, "still ready 1 s after SIGTERM"
        time.sleep(0.02)
    # One worker has seen the notice; each other worker looks at it again within RECHECK_S.
    time.sleep(RECHECK_S)
    answered = 0
    while time.monotonic() < until:
        response = httpx.post(f"{url}/classify", json={"text": "fly to denver"}, timeout=5)
        assert response.status_code == 200, response.text
        assert response.headers["connection"] == "close"
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 503
        assert httpx.get(f"{url}/v2/health/ready", timeout=5).status_code == 503
        assert httpx.get(f"{url}/v2/models/atis/ready", timeout=5).json() == {"name": "atis", "ready": False}
        answered += 1
        time.sleep(0.05)
    assert answered > 0


def assert_new_connections_end_refused(url: str, refused: tuple[type[Exception], ...]) -> None:
    """After SIGTERM a new connection is answered normally (until the signal reaches every worker: a
    supervisor polls for it every 0.5 s) and then refused; never hung, never half-answered."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            response = httpx.get(f"{url}/healthz", timeout=5)
        except refused:
            return
        assert response.status_code == 200
        time.sleep(0.05)
    raise AssertionError("new connections were still accepted 10 s after SIGTERM")


async def test_sigterm_under_load_answers_every_accepted_request(tmp_path: Path) -> None:
    env = atis_server_env(tmp_path)
    await drain_under_load(LiveServer(env).start(), requests=40)


@pytest.mark.parametrize("workers", [1, 2])
async def test_drain_delay_keeps_serving_while_unready_then_drains(tmp_path: Path, workers: int) -> None:
    env = {**atis_server_env(tmp_path), "SEQSERVE_DRAIN_DELAY_S": "2", "SEQSERVE_WORKERS": str(workers)}
    await drain_under_load(LiveServer(env, launcher=True).start(), requests=40, drain_delay_s=2)


async def test_client_that_leaves_while_queued_is_dropped_before_compute(tmp_path: Path) -> None:
    env = atis_server_env(tmp_path)
    with LiveServer(env) as server:
        limits = httpx.Limits(max_connections=64)
        async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
            body = {"texts": TEXTS, "models": ["atis"]}
            backlog = [asyncio.ensure_future(client.post("/classify", json=body)) for _ in range(30)]
            await wait_for_queue(client, "atis")
            await asyncio.to_thread(send_and_leave, server.port, {"texts": TEXTS[:50], "models": ["atis"]})
            assert all(r.status_code == 200 for r in await asyncio.gather(*backlog))
            scrape = (await client.get("/metrics")).text
    assert metric_samples(scrape, "seqserve_rejected_total")['{reason="disconnected"}'] == 1
    assert metric_samples(scrape, "seqserve_batch_size_sum")['{model="atis"}'] == 30 * len(TEXTS)


def send_and_leave(port: int, body: dict) -> None:
    """Send a whole request, then close the connection without reading the answer."""
    payload = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = f"POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
        sock.sendall(head.encode() + payload)
        time.sleep(0.05)  # let the server read the request before the connection goes


def test_request_arriving_as_sigterm_lands_is_answered_not_reset(tmp_path: Path) -> None:
    """The container's launcher answers a request whose headers were half sent when SIGTERM came
    (stock uvicorn closes such a connection: the client sees a reset after sending its request)."""
    env = {"SEQSERVE_MODEL_DIR": str(MODEL_DIR), "SEQSERVE_MODELS": "atis", "SEQSERVE_METRICS_DIR": str(tmp_path)}
    server = LiveServer(env, launcher=True).start()
    body = json.dumps({"text": "fly from boston to denver"}).encode()
    head = f"POST /classify HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode())  # headers not complete yet: no request cycle exists
        time.sleep(0.3)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # shutdown has begun: idle connections are closed by now
        sock.sendall(b"\r\n" + body)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 200 OK", answer[:200]
    assert b"connection: close" in rest.lower()
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["predictions"]["atis"]["slots"][0]["value"] == "boston"
    assert server.stop(timeout=30) in (0, -signal.SIGTERM)
