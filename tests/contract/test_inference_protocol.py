"""The Open Inference Protocol on /v2: answers equal /classify's, in JSON and in binary, and exact shapes."""

from __future__ import annotations

import json

import httpx
import pytest

from app.inference_schemas import InferenceError, InferenceResponse, ModelMetadata, ModelReady, ServerMetadata
from app.tensors import decode_bytes_elements, decode_fp32, encode_bytes_elements
from tests.support import metric_samples

pytestmark = pytest.mark.anyio

REVIEWS = ["A charming, often affecting journey.", "Dull and lifeless.", "   It is — bof —   ok.  "]
FLIGHTS = ["I want to fly from Taipei to Boston next Monday", "cheap flights ✈️ from 東京 to Seattle 😀"]
HEADER = "inference-header-content-length"


def text_input(texts: list[str]) -> dict:
    return {"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}


def binary_body(texts: list[str], **request: object) -> tuple[bytes, dict[str, str]]:
    """The body tritonclient sends: JSON header, then the texts as a binary BYTES tensor."""
    raw = encode_bytes_elements(text.encode() for text in texts)
    head = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)],
                        "parameters": {"binary_data_size": len(raw)}}], **request}
    header = json.dumps(head).encode()
    return header + raw, {"Inference-Header-Content-Length": str(len(header))}


def outputs_of(response: httpx.Response) -> dict[str, list]:
    """Each output's values, read from JSON `data` or from the binary section, as a client reads them."""
    assert response.status_code == 200, response.text
    cut = int(response.headers.get(HEADER, len(response.content)))
    body = json.loads(response.content[:cut])
    InferenceResponse.model_validate(body)
    values, offset = {}, cut
    for output in body["outputs"]:
        if "data" in output:
            values[output["name"]] = output["data"]
            continue
        size = output["parameters"]["binary_data_size"]
        raw = response.content[offset : offset + size]
        offset += size
        values[output["name"]] = decode_fp32(raw) if output["datatype"] == "FP32" else [
            element.decode() for element in decode_bytes_elements(raw, 1 << 20)]
    assert offset == len(response.content)
    return values


async def classify(client: httpx.AsyncClient, texts: list[str], model: str) -> list[dict]:
    response = await client.post("/classify", json={"texts": texts, "models": [model]})
    return [result["predictions"][model] for result in response.json()["results"]]


async def test_server_health_and_metadata(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/health/live")).json() == {"live": True}
    ready = await client.get("/v2/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"ready": True})
    metadata = (await client.get("/v2")).json()
    ServerMetadata.model_validate(metadata)
    assert metadata["name"] == "seqserve" and "binary_tensor_data" in metadata["extensions"]


@pytest.mark.parametrize(("model", "outputs"), [
    ("sentiment", {"label": [-1], "score": [-1], "scores": [-1, 2], "prediction": [-1]}),
    ("atis", {"label": [-1], "score": [-1], "prediction": [-1]}),
])
async def test_model_metadata_lists_tensors_versions_and_the_class_order(
    client: httpx.AsyncClient, model: str, outputs: dict[str, list[int]]
) -> None:
    listed = {entry["name"]: entry for entry in (await client.get("/models")).json()["models"] if entry["default"]}
    metadata = (await client.get(f"/v2/models/{model}")).json()
    ModelMetadata.model_validate(metadata)
    assert metadata["inputs"] == [{"name": "text", "datatype": "BYTES", "shape": [-1]}]
    assert {output["name"]: output["shape"] for output in metadata["outputs"]} == outputs
    version = listed[model]["version"]
    assert metadata["versions"] == [version] and metadata["properties"]["version"] == version
    if "scores" in outputs:
        assert json.loads(metadata["properties"]["scores_labels"]) == listed[model]["labels"]["classes"]
    assert (await client.get(f"/v2/models/{model}/versions/{version}")).json() == metadata
    for path in (f"/v2/models/{model}/ready", f"/v2/models/{model}/versions/{version}/ready"):
        ready = (await client.get(path)).json()
        assert ModelReady.model_validate(ready) and ready == {"name": model, "ready": True}


@pytest.mark.parametrize("texts", [REVIEWS[:1], REVIEWS], ids=["one", "several"])
@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
async def test_classifier_answers_equal_classify(client: httpx.AsyncClient, texts: list[str], binary: bool) -> None:
    if binary:
        body, headers = binary_body(texts, parameters={"binary_data_output": True})
        response = await client.post("/v2/models/sentiment/infer", content=body, headers=headers)
        assert response.headers["content-type"] == "application/octet-stream"
    else:
        response = await client.post("/v2/models/sentiment/infer", json={"inputs": [text_input(texts)]})
        assert response.headers["content-type"] == "application/json"
    outputs = outputs_of(response)
    expected = await classify(client, texts, "sentiment")
    assert outputs["label"] == [answer["label"] for answer in expected]
    assert outputs["score"] == pytest.approx([answer["score"] for answer in expected], abs=1e-6)
    rows = [list(answer["scores"].values()) for answer in expected]
    assert outputs["scores"] == pytest.approx([value for row in rows for value in row], abs=1e-6)
    assert [json.loads(prediction) for prediction in outputs["prediction"]] == expected


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
async def test_tagger_prediction_carries_tokens_and_spans_with_offsets(client: httpx.AsyncClient, binary: bool) -> None:
    body, headers = binary_body(FLIGHTS) if binary else (json.dumps({"inputs": [text_input(FLIGHTS)]}).encode(), {})
    outputs = outputs_of(await client.post("/v2/models/atis/infer", content=body, headers=headers))
    expected = await classify(client, FLIGHTS, "atis")
    assert set(outputs) == {"label", "score", "prediction"}
    assert outputs["label"] == [answer["intent"]["label"] for answer in expected]
    predictions = [json.loads(prediction) for prediction in outputs["prediction"]]
    assert predictions == expected
    for text, prediction in zip(FLIGHTS, predictions):
        assert all(text[slot["start"] : slot["end"]] == slot["value"] for slot in prediction["slots"])


async def test_requested_outputs_choose_what_comes_back_and_how(client: httpx.AsyncClient) -> None:
    request = {"id": "req-7", "inputs": [text_input(REVIEWS)], "outputs": [
        {"name": "scores", "parameters": {"binary_data": True}}, {"name": "label"}, {"name": "scores"}]}
    response = await client.post("/v2/models/sentiment/infer", json=request)
    head = json.loads(response.content[: int(response.headers[HEADER])])
    assert head["id"] == "req-7" and [output["name"] for output in head["outputs"]] == ["scores", "label"]
    assert head["outputs"][0]["shape"] == [3, 2] and head["outputs"][0]["parameters"] == {"binary_data_size": 24}
    assert len(outputs_of(response)["scores"]) == 6


async def test_id_is_echoed_only_when_given_and_unknown_parameters_are_ignored(client: httpx.AsyncClient) -> None:
    request = {"inputs": [{**text_input(REVIEWS[:1]), "parameters": {"anything": 1}}],
               "parameters": {"priority": 3, "sequence_id": "x", "timeout": 1000}, "model_name": "sentiment"}
    without = await client.post("/v2/models/sentiment/infer", json=request)
    assert without.status_code == 200 and "id" not in without.json()
    with_id = await client.post("/v2/models/sentiment/infer", json={**request, "id": ""})
    assert with_id.json()["id"] == ""


async def test_every_loaded_version_is_addressable(client: httpx.AsyncClient) -> None:
    metadata = (await client.get("/v2/models/snips")).json()
    for version in metadata["versions"]:
        response = await client.post(f"/v2/models/snips/versions/{version}/infer", json={"inputs": [text_input(["play jazz"])]})
        assert response.status_code == 200 and response.json()["model_version"] == version


@pytest.mark.parametrize("path", [
    "/v2/models/nope", "/v2/models/nope/ready", "/v2/models/sentiment/versions/0/ready", "/v2/models/sentiment/versions/0",
])
async def test_unknown_models_and_versions_are_404_in_the_protocols_shape(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 404
    assert InferenceError.model_validate(response.json()) and "sentiment" in response.json()["error"]
    infer = await client.post(path.removesuffix("/ready") + "/infer", json={"inputs": [text_input(["hi"])]})
    assert infer.status_code == 404 and set(infer.json()) == {"error"}


async def test_v2_errors_take_the_protocols_shape_and_classify_keeps_its_own(client: httpx.AsyncClient) -> None:
    assert (await client.get("/v2/models/sentiment/nothing")).json() == {"error": "Not Found"}
    wrong_method = await client.get("/v2/models/sentiment/infer")
    assert wrong_method.status_code == 405 and set(wrong_method.json()) == {"error"}
    assert "allow" in wrong_method.headers
    assert set((await client.post("/classify", json={}))
               .json()["error"]) == {"code", "message", "field"}


async def test_requests_are_counted_by_route_template(client: httpx.AsyncClient) -> None:
    await client.post("/v2/models/sentiment/infer", json={"inputs": [text_input(["fine"])]})
    samples = metric_samples((await client.get("/metrics")).text, "seqserve_request_duration_seconds_count")
    assert samples['{method="POST",route="/v2/models/{model_name}/infer",status="200"}'] >= 1


async def test_openapi_documents_the_protocol(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert {"/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/{model_name}/infer",
            "/v2/models/{model_name}/versions/{model_version}/infer"} <= set(spec["paths"])
    infer = spec["paths"]["/v2/models/{model_name}/infer"]["post"]
    assert {"200", "400", "404", "413", "503", "504"} <= set(infer["responses"])
    assert "Inference-Header-Content-Length" in infer["description"]
    # the output names the schema offers are those every loaded model answers with
    offered = infer["requestBody"]["content"]["application/json"]["schema"]["properties"]["outputs"]["items"]
    models = spec["paths"]["/v2/models/{model_name}"]["get"]["parameters"][0]["schema"]["enum"]
    outputs = [{output["name"] for output in (await client.get(f"/v2/models/{model}")).json()["outputs"]}
               for model in models]
    assert set(offered["properties"]["name"]["enum"]) == set.intersection(*outputs)
