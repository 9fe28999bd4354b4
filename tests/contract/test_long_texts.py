"""Every accepted text is read whole: nothing past a token limit is silently dropped."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.anyio

ENDING = " from boston to denver"
LONG_REQUEST = ("show me the flights and the fares please " * 40)[: 1500 - len(ENDING)] + ENDING
NEUTRAL = "it is a film . " * 40  # 200 tokens: the review's verdict comes after token 128


async def predict(client: httpx.AsyncClient, text: str, model: str) -> dict:
    response = await client.post("/classify", json={"text": text, "models": [model]})
    assert response.status_code == 200, response.text
    return response.json()["predictions"][model]


async def test_a_slot_at_the_end_of_a_1500_character_request_is_found(client: httpx.AsyncClient) -> None:
    assert len(LONG_REQUEST) == 1500
    atis = await predict(client, LONG_REQUEST, "atis")
    slots = [(slot["slot"], slot["value"], slot["start"], slot["end"]) for slot in atis["slots"]]
    assert slots[-2:] == [("fromloc.city_name", "boston", 1484, 1490), ("toloc.city_name", "denver", 1494, 1500)]
    assert len(atis["tokens"]) == 293 and atis["tokens"][-1]["end"] == 1500  # every token tagged


async def test_a_classifier_is_decided_by_words_after_token_128(client: httpx.AsyncClient) -> None:
    praise = await predict(client, NEUTRAL + "a wonderful , moving , brilliant triumph .", "sentiment")
    scorn = await predict(client, NEUTRAL + "a dull , lifeless , terrible mess .", "sentiment")
    assert (praise["label"], scorn["label"]) == ("positive", "negative")


async def test_the_longest_accepted_text_is_answered_by_every_bundle(client: httpx.AsyncClient) -> None:
    text = ("word " * 400)[:2000]  # SEQSERVE_MAX_TEXT_CHARS: 400 tokens
    response = await client.post("/classify", json={"texts": [text, "fly to boston"]})
    assert response.status_code == 200
    assert len(response.json()["results"][0]["predictions"]["atis"]["tokens"]) == 400
    refused = await client.post("/classify", json={"texts": ["fine", text + "x"]})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "texts.1"
