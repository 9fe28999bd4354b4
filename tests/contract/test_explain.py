"""`"explain": true`: one attribution per token, offsets into the text as sent, nothing without it."""

from __future__ import annotations

import httpx
import pytest

from app.schemas import BatchResponse, SingleResponse

pytestmark = pytest.mark.anyio

FLIGHT = "I want to fly from Boston to Denver tomorrow"
FARE = "what is the cheapest fare from Boston to Denver"
NEGATIVE = "The film was terrible."


async def classify(client: httpx.AsyncClient, body: dict) -> dict:
    response = await client.post("/classify", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def strongest(explanation: list[dict]) -> str:
    return max(explanation, key=lambda entry: entry["attribution"])["text"]


async def test_classifier_explanation_points_at_the_word_that_decides(client: httpx.AsyncClient) -> None:
    body = await classify(client, {"text": NEGATIVE, "models": ["sentiment"], "explain": True})
    SingleResponse.model_validate(body)
    sentiment = body["predictions"]["sentiment"]
    assert sentiment["label"] == "negative"
    explanation = sentiment["explanation"]
    assert [(e["text"], e["start"], e["end"]) for e in explanation] == [
        ("The", 0, 3), ("film", 4, 8), ("was", 9, 12), ("terrible", 13, 21), (".", 21, 22)
    ]
    assert strongest(explanation) == "terrible"
    assert explanation[3]["attribution"] > 0.2  # masking it costs the label a fifth of its probability


async def test_tagger_explains_its_intent_and_keeps_its_tokens(client: httpx.AsyncClient) -> None:
    body = await classify(client, {"text": FARE, "models": ["atis"], "explain": True})
    atis = body["predictions"]["atis"]
    assert atis["intent"]["label"] == "atis_airfare"
    assert strongest(atis["explanation"]) == "fare"
    assert [(e["text"], e["start"], e["end"]) for e in atis["explanation"]] == [
        (t["text"], t["start"], t["end"]) for t in atis["tokens"]
    ]


async def test_every_text_and_bundle_is_explained_with_offsets_into_the_raw_text(client: httpx.AsyncClient) -> None:
    texts = ["  Flights   from BOSTON,  to Denver?!  ", "טיסה from Tel Aviv 😀", FLIGHT]
    body = await classify(client, {"texts": texts, "explain": True})
    BatchResponse.model_validate(body)
    for text, result in zip(texts, body["results"]):
        for name, prediction in result["predictions"].items():
            explanation = prediction["explanation"]
            assert explanation, name
            assert all(text[e["start"] : e["end"]] == e["text"] for e in explanation), name
            assert all(-1.0 <= e["attribution"] <= 1.0 for e in explanation), name


async def test_explanation_matches_the_same_text_asked_alone(client: httpx.AsyncClient) -> None:
    """Variants share batches with other texts; the answer must not depend on its company."""
    alone = await classify(client, {"text": FLIGHT, "models": ["snips"], "explain": True})
    together = await classify(client, {"texts": [NEGATIVE, FLIGHT], "models": ["snips"], "explain": True})
    first = [e["attribution"] for e in alone["predictions"]["snips"]["explanation"]]
    second = [e["attribution"] for e in together["results"][1]["predictions"]["snips"]["explanation"]]
    assert second == pytest.approx(first, abs=1e-5)


@pytest.mark.parametrize("body", [{"text": FLIGHT}, {"text": FLIGHT, "explain": False}])
async def test_no_explanation_unless_asked(client: httpx.AsyncClient, body: dict) -> None:
    predictions = (await classify(client, body))["predictions"]
    assert predictions and all("explanation" not in prediction for prediction in predictions.values())


async def test_text_longer_than_the_explain_limit_is_refused_on_its_field(client: httpx.AsyncClient) -> None:
    long = " ".join(["word"] * 65)  # SEQSERVE_EXPLAIN_MAX_TOKENS defaults to 64
    response = await client.post("/classify", json={"texts": ["fine", long], "models": ["sentiment"], "explain": True})
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["field"] == "texts.1" and "at most 64 tokens" in error["message"]
    assert (await client.post("/classify", json={"text": long, "models": ["sentiment"]})).status_code == 200


async def test_openapi_documents_explain(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    request = schema["paths"]["/classify"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert request["properties"]["explain"]["type"] == "boolean"
    assert request["properties"]["explain"]["default"] is False
    assert "explanation" in schema["components"]["schemas"]["ClassScores"]["properties"]
