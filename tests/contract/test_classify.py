"""POST /classify with the default bundles: exact labels, offsets, schemas, batching invariance."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.schemas import BatchResponse, ModelsResponse, SingleResponse
from tests.support import metric_samples

pytestmark = pytest.mark.anyio

FLIGHT = "I want to fly from Boston to Denver"
POSITIVE = "A wonderful, moving film with brilliant performances."
NEGATIVE = "A dull, tedious mess with terrible acting."
UNUSUAL = [
    "  Flights   from BOSTON,  to Denver?!  ",
    "ok\u0007 then\ttab\nnewline",
    "cheap flights ✈️ from 東京 to Seattle 😀",
    "טיסה from Tel Aviv to عمان please",
    "İstanbul to Zürich on Ｍｏｎｄａｙ",
    "!!!???...",
    "😀😀😀",
]


async def classify(client: httpx.AsyncClient, body: dict) -> dict:
    response = await client.post("/classify", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


def slots_of(prediction: dict) -> list[tuple[str, str]]:
    return [(slot["slot"], slot["value"]) for slot in prediction["slots"]]


async def test_flight_request_finds_departure_and_destination(client: httpx.AsyncClient) -> None:
    body = await classify(client, {"text": FLIGHT, "models": ["atis"]})
    SingleResponse.model_validate(body)
    atis = body["predictions"]["atis"]
    assert atis["intent"]["label"] == "atis_flight"
    assert slots_of(atis) == [("fromloc.city_name", "Boston"), ("toloc.city_name", "Denver")]
    boston = atis["slots"][0]
    assert (boston["start"], boston["end"]) == (19, 25)
    assert [token["text"] for token in atis["tokens"]] == FLIGHT.split()


async def test_context_decides_departure_versus_destination(client: httpx.AsyncClient) -> None:
    body = await classify(client, {"text": "to Denver from Boston tomorrow morning", "models": ["atis"]})
    assert slots_of(body["predictions"]["atis"])[:2] == [("toloc.city_name", "Denver"), ("fromloc.city_name", "Boston")]


async def test_city_never_seen_in_training_is_still_tagged(client: httpx.AsyncClient) -> None:
    body = await classify(client, {"text": "i want to fly from taipei to boston", "models": ["atis"]})
    assert slots_of(body["predictions"]["atis"]) == [("fromloc.city_name", "taipei"), ("toloc.city_name", "boston")]


async def test_snips_intents(client: httpx.AsyncClient) -> None:
    body = await classify(
        client,
        {"texts": ["play some jazz music by Miles Davis on Spotify", "will it rain in Paris tomorrow"], "models": ["snips"]},
    )
    intents = [result["predictions"]["snips"]["intent"]["label"] for result in body["results"]]
    assert intents == ["PlayMusic", "GetWeather"]


async def test_sentiment_of_clear_reviews(client: httpx.AsyncClient) -> None:
    body = await classify(client, {"texts": [POSITIVE, NEGATIVE], "models": ["sentiment"]})
    BatchResponse.model_validate(body)
    labels = [result["predictions"]["sentiment"]["label"] for result in body["results"]]
    assert labels == ["positive", "negative"]
    scores = body["results"][0]["predictions"]["sentiment"]["scores"]
    assert set(scores) == {"negative", "positive"}
    assert sum(scores.values()) == pytest.approx(1.0, abs=1e-5)


async def test_default_is_every_bundle_and_versions_are_reported(client: httpx.AsyncClient) -> None:
    body = await classify(client, {"text": FLIGHT})
    assert set(body["predictions"]) == {"atis", "snips", "sentiment", "clinc150"}
    assert set(body["model_versions"]) == {"atis", "snips", "sentiment", "clinc150"}
    assert all(version for version in body["model_versions"].values())


async def test_results_keep_the_order_of_texts(client: httpx.AsyncClient) -> None:
    texts = [POSITIVE, FLIGHT, NEGATIVE, "show me fares to dallas"]
    body = await classify(client, {"texts": texts, "models": ["sentiment", "atis"]})
    assert [result["text"] for result in body["results"]] == texts


@pytest.mark.parametrize("text", UNUSUAL)
async def test_offsets_index_the_text_exactly_as_sent(client: httpx.AsyncClient, text: str) -> None:
    body = await classify(client, {"text": text, "models": ["atis", "snips"]})
    assert body["text"] == text
    for name in ("atis", "snips"):
        prediction = body["predictions"][name]
        for token in prediction["tokens"]:
            assert text[token["start"] : token["end"]] == token["text"]
            assert token["text"].strip() == token["text"] != ""
        for slot in prediction["slots"]:
            assert text[slot["start"] : slot["end"]] == slot["value"]


async def test_tags_are_always_valid_bio(client: httpx.AsyncClient) -> None:
    body = await classify(client, {"texts": UNUSUAL + [FLIGHT], "models": ["atis", "snips"]})
    for result in body["results"]:
        for prediction in result["predictions"].values():
            previous = "O"
            for token in prediction["tokens"]:
                tag = token["tag"]
                if tag.startswith("I-"):
                    assert previous[2:] == tag[2:] and previous != "O", (result["text"], tag, previous)
                previous = tag


async def test_a_text_gets_the_same_answer_alone_or_in_any_batch(client: httpx.AsyncClient) -> None:
    others = [NEGATIVE, "list all flights from pittsburgh to baltimore on the evening of july seventh", "ok", POSITIVE * 3]
    alone = await classify(client, {"text": FLIGHT})
    batched = await classify(client, {"texts": [*others[:2], FLIGHT, *others[2:]]})
    together = batched["results"][2]["predictions"]
    for name, prediction in alone["predictions"].items():
        assert_same_prediction(prediction, together[name])


def assert_same_prediction(first: dict, second: dict) -> None:
    """Labels identical; probabilities equal up to float summation order (GEMM blocking varies with batch)."""
    assert first.keys() == second.keys()
    for key, value in first.items():
        if isinstance(value, float):
            assert value == pytest.approx(second[key], abs=1e-5)
        elif isinstance(value, dict):
            assert_same_prediction(value, second[key])
        elif isinstance(value, list):
            assert len(value) == len(second[key])
            for a, b in zip(value, second[key]):
                assert_same_prediction(a, b)
        else:
            assert value == second[key]


async def test_concurrent_requests_all_succeed_and_share_batches(client: httpx.AsyncClient) -> None:
    """200 requests at once are all answered, and some share a forward. Over a network the requests may
    trickle in slower than one forward each (a lone request on an idle batcher runs alone), so the
    connections are opened first and the burst is sent up to three times before batching counts as absent."""
    await asyncio.gather(*(client.get("/healthz") for _ in range(100)))  # open the pool's connections
    texts = [f"show me flights from boston to denver number {i}" for i in range(200)]
    for _ in range(3):
        before = metric_samples((await client.get("/metrics")).text, "seqserve_batch_size")
        responses = await asyncio.gather(*(client.post("/classify", json={"text": t, "models": ["atis"]}) for t in texts))
        assert [response.status_code for response in responses] == [200] * 200
        assert [response.json()["text"] for response in responses] == texts
        after = metric_samples((await client.get("/metrics")).text, "seqserve_batch_size")
        batches = after['_count{model="atis"}'] - before['_count{model="atis"}']
        assert after['_sum{model="atis"}'] - before['_sum{model="atis"}'] == 200  # every text ran once
        if batches < 200:  # at least one forward ran several texts together
            return
    pytest.fail("200 concurrent requests, three times, and every forward ran a single text")


async def test_models_lists_each_bundle_with_labels_and_metrics(client: httpx.AsyncClient) -> None:
    response = await client.get("/models")
    assert response.status_code == 200
    models = {model.name: model for model in ModelsResponse.model_validate(response.json()).models}
    assert set(models) == {"atis", "snips", "sentiment", "clinc150"}
    assert models["sentiment"].kind == "classifier"
    assert models["sentiment"].labels == {"classes": ["negative", "positive"]}
    assert models["atis"].kind == "tagger"
    assert "O" in models["atis"].labels["slot_tags"] and "atis_flight" in models["atis"].labels["intents"]
    assert models["atis"].metrics["dev"]["slot_f1"] > 90
    assert all(model.parameters > 0 and model.device for model in models.values())
