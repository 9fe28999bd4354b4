"""Bad input gets a 4xx JSON error naming the field; the service keeps answering afterwards."""

from __future__ import annotations

import httpx
import pytest

from app.schemas import ErrorResponse

pytestmark = pytest.mark.anyio

MAX_TEXT_CHARS = 2000  # the defaults of app.config.Settings
MAX_TEXTS = 64
MAX_BODY = 1 << 20


async def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "field"}
    ErrorResponse.model_validate(body)
    assert "Traceback" not in response.text and ".py" not in response.text
    return body["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": "a", "texts": ["b"]}, "text"),
        ({"text": ""}, "text"),
        ({"text": "   \n\t "}, "text"),
        ({"text": 42}, "text"),
        ({"text": None, "texts": None}, "text"),
        ({"texts": "not a list"}, "texts"),
        ({"texts": []}, "texts"),
        ({"texts": ["fine", 7]}, "texts.1"),
        ({"texts": ["fine", " "]}, "texts.1"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, "text"),
        ({"texts": ["x"] * (MAX_TEXTS + 1)}, "texts"),
        ({"text": "a", "models": []}, "models"),
        ({"text": "a", "models": "atis"}, "models"),
        ({"text": "a", "model": ["atis"]}, "model"),
        ({"text": "a", "explain": "yes"}, "explain"),
        ({"text": "a", "explain": 1}, "explain"),
        ({"text": "a", "explain": None}, "explain"),
        ({"text": "a", "explain": [True]}, "explain"),
    ],
)
async def test_invalid_request_names_the_field(client: httpx.AsyncClient, body: dict, field: str) -> None:
    error = await error_of(await client.post("/classify", json=body), 422)
    assert error["code"] == "invalid_field"
    assert error["field"] == field


async def test_unknown_model_lists_the_available_ones(client: httpx.AsyncClient) -> None:
    error = await error_of(await client.post("/classify", json={"text": "a", "models": ["atis", "nope"]}), 422)
    assert error["field"] == "models.1"
    assert "nope" in error["message"] and "atis, clinc150, sentiment, snips" in error["message"]


@pytest.mark.parametrize(
    "raw",
    [b"", b"{", b'{"text": "a"', b"not json", b"\xff\xfe{}", b'{"text": "\xe9t\xe9"}', b"[" * 10_000 + b"]" * 10_000],
)
async def test_unreadable_json_is_a_400_on_the_body(client: httpx.AsyncClient, raw: bytes) -> None:
    response = await client.post("/classify", content=raw, headers={"content-type": "application/json"})
    error = await error_of(response, 400)
    assert (error["code"], error["field"]) == ("invalid_json", "body")


async def test_lone_surrogate_is_refused_on_its_field(client: httpx.AsyncClient) -> None:
    raw = b'{"texts": ["fine", "bad \\ud800 text"]}'
    error = await error_of(await client.post("/classify", content=raw), 422)
    assert error["field"] == "texts.1"


async def test_body_over_one_mebibyte_is_413(client: httpx.AsyncClient) -> None:
    raw = b'{"text": "' + b"a" * MAX_BODY + b'"}'
    error = await error_of(await client.post("/classify", content=raw), 413)
    assert (error["code"], error["field"]) == ("payload_too_large", "body")


async def test_unknown_path_and_wrong_method(client: httpx.AsyncClient) -> None:
    assert (await error_of(await client.get("/nope"), 404))["field"] == "path"
    assert (await error_of(await client.get("/classify"), 405))["field"] == "method"


@pytest.mark.parametrize(
    "text",
    ["a\x00b", "\x01\x02\x03", "ok \u200b\u200d zero-width", "\U0001f600", "日本語のテキスト", "مرحبا بالعالم", "...?!"],
)
async def test_control_characters_emoji_and_other_scripts_are_valid_input(client: httpx.AsyncClient, text: str) -> None:
    response = await client.post("/classify", json={"text": text})
    assert response.status_code == 200, response.text
    assert response.json()["text"] == text


async def test_service_still_answers_after_bad_requests(client: httpx.AsyncClient) -> None:
    await client.post("/classify", content=b"{")
    await client.post("/classify", json={"text": ""})
    response = await client.post("/classify", json={"text": "fly to boston", "models": ["atis"]})
    assert response.status_code == 200
