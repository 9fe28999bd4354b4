"""The Open Inference Protocol's official clients, tritonclient (HTTP) and kserve's InferenceRESTClient (v2),
against the live server: every call a user of either makes, in JSON and in binary (both clients' default).

They open their own sockets, so these run against the live server and the container, not in process.
tritonclient's HTTP client is synchronous (gevent); each of its calls runs in a worker thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from tritonclient.utils import InferenceServerException

pytestmark = pytest.mark.anyio

TEXTS = ["A charming, often affecting journey.", "Dull and lifeless.", "fly from boston to denver"]


@pytest.fixture
def live(client: httpx.AsyncClient) -> httpx.AsyncClient:
    if client.base_url.host == "testserver":
        pytest.skip("the official clients open their own sockets: run against the live server and the container")
    return client


@pytest.fixture
async def kserve_client() -> AsyncIterator[InferenceRESTClient]:
    rest = InferenceRESTClient(RESTConfig(protocol="v2", retries=0, timeout=30))
    yield rest
    await rest.close()


async def triton_call(live: httpx.AsyncClient, call: Callable[[triton.InferenceServerClient], Any]) -> Any:
    def run() -> Any:
        connection = triton.InferenceServerClient(f"{live.base_url.host}:{live.base_url.port}", network_timeout=30)
        try:
            return call(connection)
        finally:
            connection.close()

    return await asyncio.to_thread(run)


def strings(values: np.ndarray) -> list[str]:
    """A BYTES output as text: bytes when it came back binary, str when it came back as JSON."""
    return [value.decode() if isinstance(value, bytes) else str(value) for value in values]


async def expected(live: httpx.AsyncClient, texts: list[str], model: str) -> tuple[list[str], list[float]]:
    results = (await live.post("/classify", json={"texts": texts, "models": [model]})).json()["results"]
    answers = [result["predictions"][model] for result in results]
    heads = [answer.get("intent", answer) for answer in answers]
    return [head["label"] for head in heads], [head["score"] for head in heads]


async def test_tritonclient_health_and_metadata(live: httpx.AsyncClient) -> None:
    def calls(connection: triton.InferenceServerClient) -> tuple:
        model = connection.get_model_metadata("sentiment")
        return (connection.is_server_live(), connection.is_server_ready(), connection.is_model_ready("sentiment"),
                connection.is_model_ready("sentiment", model["versions"][0]), connection.is_model_ready("nope"),
                connection.get_server_metadata(), model, connection.get_model_metadata("atis", ""))

    live_, ready, model_ready, version_ready, unknown_ready, server, sentiment, atis = await triton_call(live, calls)
    assert (live_, ready, model_ready, version_ready, unknown_ready) == (True, True, True, True, False)
    assert server["name"] == "seqserve" and "binary_tensor_data" in server["extensions"]
    assert [output["name"] for output in sentiment["outputs"]] == ["label", "score", "scores", "prediction"]
    assert [output["name"] for output in atis["outputs"]] == ["label", "score", "prediction"]


@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
async def test_tritonclient_infer(live: httpx.AsyncClient, count: int, binary: bool) -> None:
    texts = TEXTS[:count]

    def infer(connection: triton.InferenceServerClient) -> triton.InferResult:
        text = triton.InferInput("text", [count], "BYTES")
        text.set_data_from_numpy(np.array(texts, dtype=np.object_), binary_data=binary)
        outputs = [triton.InferRequestedOutput(name, binary_data=binary) for name in ("label", "score", "scores")]
        return connection.infer("sentiment", [text], request_id=f"req-{count}", outputs=outputs)

    result = await triton_call(live, infer)
    labels, scores = await expected(live, texts, "sentiment")
    assert result.get_response()["id"] == f"req-{count}"
    assert strings(result.as_numpy("label")) == labels
    assert result.as_numpy("score").tolist() == pytest.approx(scores, abs=1e-6)
    assert result.as_numpy("scores").shape == (count, 2)


async def test_tritonclient_default_outputs_versioned_url_and_unknown_model(live: httpx.AsyncClient) -> None:
    def calls(connection: triton.InferenceServerClient) -> tuple:
        text = triton.InferInput("text", [len(TEXTS)], "BYTES")
        text.set_data_from_numpy(np.array(TEXTS, dtype=np.object_))  # binary, all outputs binary
        version = connection.get_model_metadata("atis")["versions"][0]
        result = connection.infer("atis", [text], model_version=version)
        with pytest.raises(InferenceServerException, match="unknown model 'nope'") as refused:
            connection.infer("nope", [text])
        return version, result, refused.value.status()

    version, result, status = await triton_call(live, calls)
    labels, _ = await expected(live, TEXTS, "atis")
    assert result.get_response()["model_version"] == version
    assert strings(result.as_numpy("label")) == labels
    assert result.as_numpy("prediction").shape == (len(TEXTS),)
    assert status == "404"


async def test_kserve_client_health(live: httpx.AsyncClient, kserve_client: InferenceRESTClient) -> None:
    base = str(live.base_url)
    assert await kserve_client.is_server_live(base) is True
    assert await kserve_client.is_server_ready(base) is True
    assert await kserve_client.is_model_ready(base, "snips") is True
    assert await kserve_client.is_model_ready(base, "nope") is False


@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
async def test_kserve_client_infer(live: httpx.AsyncClient, kserve_client: InferenceRESTClient, count: int,
                                   binary: bool) -> None:
    texts = TEXTS[:count]
    text = InferInput("text", [count], "BYTES")
    text.set_data_from_numpy(np.array(texts, dtype=np.object_), binary_data=binary)
    result = await kserve_client.infer(str(live.base_url), InferRequest("atis", [text], request_id="k-1"),
                                       model_name="atis")
    labels, scores = await expected(live, texts, "atis")
    outputs = {output.name: output.as_numpy() for output in result.outputs}
    assert result.id == "k-1"
    assert strings(outputs["label"]) == labels
    assert outputs["score"].tolist() == pytest.approx(scores, abs=1e-6)
    assert len(outputs["prediction"]) == count


async def test_kserve_client_versioned_url_and_unknown_model(live: httpx.AsyncClient,
                                                            kserve_client: InferenceRESTClient) -> None:
    version = (await live.get("/v2/models/sentiment")).json()["versions"][0]
    text = InferInput("text", [1], "BYTES")
    text.set_data_from_numpy(np.array(TEXTS[:1], dtype=np.object_))
    # the client has no version argument; the version goes in the name part of the URL it builds
    result = await kserve_client.infer(str(live.base_url), InferRequest("sentiment", [text]),
                                       model_name=f"sentiment/versions/{version}")
    assert result.model_name == "sentiment"
    with pytest.raises(httpx.HTTPStatusError, match="unknown model 'nope'") as refused:
        await kserve_client.infer(str(live.base_url), InferRequest("nope", [text]), model_name="nope")
    assert refused.value.response.status_code == 404
