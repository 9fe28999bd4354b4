"""Hostile inputs: each gets its exact status and error shape, and the service keeps serving after it."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest

pytestmark = pytest.mark.anyio

NORMAL = {"text": "fly from boston to denver", "models": ["atis"]}
MEBIBYTE = 1 << 20


def deep_json(depth: int) -> bytes:
    return b'{"text": ' + b"[" * depth + b"]" * depth + b"}"


HOSTILE = [
    pytest.param(b'{"text": "caf\xe9"}', 400, "invalid_json", "body", id="invalid-utf8"),
    pytest.param(b'{"texts": ["a", "b"', 400, "invalid_json", "body", id="truncated-json"),
    pytest.param(deep_json(10_000), 400, "invalid_json", "body", id="nested-10000-deep"),
    pytest.param(json.dumps({"text": "a" * 1_000_000}).encode(), 422, "invalid_field", "text", id="million-char-text"),
    pytest.param(json.dumps({"texts": ["a"] * 10_000}).encode(), 422, "invalid_field", "texts", id="10000-texts"),
    pytest.param(b'{"text": "\\udc00 lone low surrogate"}', 422, "invalid_field", "text", id="lone-surrogate"),
    pytest.param(b'{"text": "a"}' + b" " * MEBIBYTE, 413, "payload_too_large", "body", id="padded-over-1MiB"),
    pytest.param(b'{"text": "a", "explain": {"$ne": false}}', 422, "invalid_field", "explain", id="explain-object"),
    pytest.param(b'{"text": "a", "explain": "true"}', 422, "invalid_field", "explain", id="explain-string"),
    pytest.param(
        json.dumps({"texts": ["word " * 400] * 64, "explain": True}).encode(), 422, "invalid_field", "texts.0",
        id="explain-64-long-texts",
    ),
]


@pytest.mark.parametrize(("raw", "status", "code", "field"), HOSTILE)
async def test_hostile_body(client: httpx.AsyncClient, raw: bytes, status: int, code: str, field: str) -> None:
    response = await client.post("/classify", content=raw, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text[:300]
    assert response.json() == {"error": {"code": code, "message": response.json()["error"]["message"], "field": field}}
    assert (await client.post("/classify", json=NORMAL)).status_code == 200


@pytest.mark.parametrize(
    "text",
    ["a\x00b\x00", "!?.,;:()[]{}", "😀🎉🔥✈️", "Flights 東京→Zürich، مساء الخير Привет", "\u202eright-to-left override"],
)
async def test_odd_but_valid_text_gets_a_prediction(client: httpx.AsyncClient, text: str) -> None:
    response = await client.post("/classify", json={"text": text})
    assert response.status_code == 200
    body = response.json()
    assert body["text"] == text and set(body["predictions"]) == {"atis", "snips", "sentiment", "clinc150"}
    assert (await client.post("/classify", json=NORMAL)).status_code == 200


async def test_fifty_megabyte_body_is_refused_before_it_is_sent(client: httpx.AsyncClient) -> None:
    if client.base_url.host == "testserver":
        pytest.skip("needs a socket: runs against the live server and the container")
    status_line = await asyncio.to_thread(send_head_of_huge_body, client.base_url.host, client.base_url.port)
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    assert (await client.post("/classify", json=NORMAL)).status_code == 200


def send_head_of_huge_body(host: str, port: int) -> bytes:
    with socket.create_connection((host, port), timeout=10) as sock:
        head = (
            f"POST /classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {50 * MEBIBYTE}\r\n\r\n"
        )
        sock.sendall(head.encode() + b'{"text": "' + b"a" * 65_536)
        return sock.recv(4096).split(b"\r\n", 1)[0]  # answered with 49.9 MB still unsent
