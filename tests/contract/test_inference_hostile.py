"""Hostile bodies on /v2 infer: each a 4xx in the protocol's `{"error": "..."}` shape, and service goes on.

JSON that is not a request, tensors that are not what the model takes, and binary framing that lies:
header lengths past the body or absurdly long, element lengths that overrun, bytes that belong to no
input, text that is not UTF-8.
"""

from __future__ import annotations

import json
import struct

import httpx
import pytest

from app.tensors import encode_bytes_elements

pytestmark = pytest.mark.anyio

URL = "/v2/models/sentiment/infer"
NORMAL = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["a fine film"]}]}
MEBIBYTE = 1 << 20


def tensor(**fields: object) -> bytes:
    return json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["ok"], **fields}]}).encode()


def framed(raw: bytes, shape: int = 1, size: int | None = None, header: str | None = None, **request: object) -> tuple:
    """A binary request whose tensor section is `raw`, stating `size` bytes (default: its real size)."""
    head = json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [shape],
                                   "parameters": {"binary_data_size": len(raw) if size is None else size}}],
                       **request}).encode()
    return head + raw, str(len(head)) if header is None else header


def length(count: int) -> bytes:
    return struct.pack("<I", count)


MANY_EMPTY = b"\x00\x00\x00\x00" * 200_000  # 200,000 empty elements in 800 kB: refused after the first 2

JSON_BODIES = [
    pytest.param(b"", 400, id="empty-body"),
    pytest.param(b'{"inputs": [', 400, id="truncated-json"),
    pytest.param(b'{"inputs": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", 400, id="nested-10000-deep"),
    pytest.param(b"[]", 400, id="array-not-object"),
    pytest.param(b'{"inputs": []}', 400, id="no-input"),
    pytest.param(b'{"inputs": null}', 400, id="inputs-null"),
    pytest.param(json.dumps({"inputs": NORMAL["inputs"] * 2}).encode(), 400, id="two-inputs"),
    pytest.param(tensor(name="input0"), 400, id="wrong-input-name"),
    pytest.param(tensor(datatype="FP32", data=[1.0]), 400, id="datatype-fp32"),
    pytest.param(tensor(datatype="bytes"), 400, id="datatype-lowercase"),
    pytest.param(tensor(shape=[]), 400, id="shape-empty"),
    pytest.param(tensor(shape=[1, 1]), 400, id="shape-2d"),
    pytest.param(tensor(shape=[0], data=[]), 400, id="shape-zero"),
    pytest.param(tensor(shape=[-1]), 400, id="shape-negative"),
    pytest.param(tensor(shape=[2]), 400, id="shape-says-more-than-data"),
    pytest.param(tensor(shape=["1"]), 400, id="shape-string"),
    pytest.param(tensor(shape=[1.5]), 400, id="shape-float"),
    pytest.param(tensor(shape=[2**64]), 400, id="shape-past-uint64"),
    pytest.param(tensor(shape=[65], data=["a"] * 65), 400, id="65-texts"),
    pytest.param(tensor(shape=[10_000], data=["a"] * 10_000), 400, id="10000-texts"),
    pytest.param(tensor(data=[7]), 400, id="data-number"),
    pytest.param(tensor(data=[["nested"]]), 400, id="data-nested"),
    pytest.param(tensor(data=None), 400, id="data-null-without-binary"),
    pytest.param(tensor(data=[""]), 400, id="empty-text"),
    pytest.param(tensor(data=[" \u3000\n"]), 400, id="whitespace-text"),
    pytest.param(tensor(data=["a" * 2001]), 400, id="text-over-2000-chars"),
    pytest.param(json.dumps({**NORMAL, "id": 7}).encode(), 400, id="id-number"),
    pytest.param(json.dumps({**NORMAL, "parameters": []}).encode(), 400, id="parameters-array"),
    pytest.param(json.dumps({**NORMAL, "parameters": {"binary_data_output": "yes"}}).encode(), 400, id="flag-string"),
    pytest.param(json.dumps({**NORMAL, "outputs": [{"name": "logits"}]}).encode(), 400, id="unknown-output"),
    pytest.param(json.dumps({**NORMAL, "outputs": [{"name": "label", "parameters": {"binary_data": 1}}]}).encode(),
                 400, id="output-flag-number"),
    pytest.param(b'{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["\\udc00"]}]}', 400,
                 id="lone-surrogate"),
    pytest.param(b'{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["caf\xe9"]}]}', 400,
                 id="latin1-in-json"),
    pytest.param(tensor(data=["a"]) + b" " * MEBIBYTE, 413, id="padded-over-1MiB"),
]

BINARY_BODIES = [
    pytest.param(framed(length(5) + b"abc"), 400, id="element-overruns-tensor"),
    pytest.param(framed(length(0xFFFFFFFF) + b"abc"), 400, id="element-states-4GiB"),
    pytest.param(framed(b"\x03\x00"), 400, id="partial-length-prefix"),
    pytest.param(framed(encode_bytes_elements([b"ok"]), size=50), 400, id="tensor-size-past-body"),
    pytest.param(framed(encode_bytes_elements([b"ok"]), size=-1), 400, id="tensor-size-negative"),
    pytest.param(framed(encode_bytes_elements([b"ok"]), size=2**70), 400, id="tensor-size-huge"),
    pytest.param(framed(encode_bytes_elements([b"ok"]) + b"junk", size=6), 400, id="bytes-after-the-tensor"),
    pytest.param(framed(encode_bytes_elements([b"ok", b"no"])), 400, id="more-elements-than-shape"),
    pytest.param(framed(encode_bytes_elements([b"ok"]), shape=2), 400, id="fewer-elements-than-shape"),
    pytest.param(framed(MANY_EMPTY, shape=2), 400, id="200000-empty-elements"),
    pytest.param(framed(encode_bytes_elements([b"caf\xe9"])), 400, id="element-not-utf8"),
    pytest.param(framed(encode_bytes_elements([b"\xed\xa0\x80"])), 400, id="element-encoded-surrogate"),
    pytest.param(framed(encode_bytes_elements([b"   "])), 400, id="element-whitespace"),
    pytest.param(framed(encode_bytes_elements([b"ok"]), header="99999999999999999999999999999"), 400,
                 id="header-length-huge"),
    pytest.param(framed(encode_bytes_elements([b"ok"]), header="9" * 5000), 400, id="header-length-5000-digits"),
    pytest.param(framed(encode_bytes_elements([b"ok"]), header="1000000"), 400, id="header-length-past-body"),
    pytest.param(framed(encode_bytes_elements([b"ok"]), header="-5"), 400, id="header-length-negative"),
    pytest.param(framed(encode_bytes_elements([b"ok"]), header="0"), 400, id="header-length-zero"),
    pytest.param(framed(encode_bytes_elements([b"ok"]), header="12"), 400, id="header-length-inside-json"),
    pytest.param(framed(encode_bytes_elements([b"ok"]), header="abc"), 400, id="header-length-not-a-number"),
    pytest.param((tensor() + b"trailing", str(len(tensor()))), 400, id="json-data-with-bytes-after"),
    pytest.param((tensor(parameters={"binary_data_size": 2}) + b"ok", str(len(tensor(parameters={"binary_data_size": 2})))),
                 400, id="data-and-binary-size"),
    pytest.param((json.dumps({"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1],
                                          "parameters": {"binary_data_size": 6}}]}).encode(), None), 400,
                 id="binary-size-without-header"),
]


async def assert_refused_then_still_serving(client: httpx.AsyncClient, response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text[:300]
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and isinstance(body["error"], str) and body["error"]
    assert "Traceback" not in response.text and ".py" not in response.text
    assert (await client.post(URL, json=NORMAL)).status_code == 200


@pytest.mark.parametrize(("raw", "status"), JSON_BODIES)
async def test_hostile_json_body(client: httpx.AsyncClient, raw: bytes, status: int) -> None:
    response = await client.post(URL, content=raw, headers={"content-type": "application/json"})
    await assert_refused_then_still_serving(client, response, status)


@pytest.mark.parametrize(("framing", "status"), BINARY_BODIES)
async def test_hostile_binary_body(client: httpx.AsyncClient, framing: tuple[bytes, str | None], status: int) -> None:
    body, header = framing
    headers = {"content-type": "application/octet-stream"}
    if header is not None:
        headers["Inference-Header-Content-Length"] = header
    response = await client.post(URL, content=body, headers=headers)
    await assert_refused_then_still_serving(client, response, status)
