"""The Open Inference Protocol's shapes in /openapi.json: response models, and the inference request schema.

The /v2 routes are plain Starlette routes (app.inference_protocol), so FastAPI does not see them; this module
describes them for app.openapi, from the loaded versions and this server's limits, as tightly as the server
checks them, so a client (or a schema fuzzer) that follows the document is never refused: `inputs` holds
the one BYTES input `text` whose `shape` is [N] for its N texts (one `oneOf` branch per N), and `outputs`
may name the outputs every model has (a classifier's `scores` is in the description and in its model
metadata: one operation per model would list it, at one more fuzzed operation per model). The binary
tensor data extension is described in words: the header it needs would otherwise be fuzzed into bodies
that do not match it. The response models are exact (extra keys refused), so contract tests validate real
answers against them.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, TypeAdapter
from pydantic.json_schema import models_json_schema

from app.config import Settings
from app.inference_io import INPUT
from app.registry import Registry
from app.schemas import Answer, text_type

REF = "#/components/schemas/{model}"
JSON = "application/json"
TAGS = ["Open Inference Protocol"]
MAX_SHAPE_BRANCHES = 64  # beyond this many texts a request, `shape` = [N] is stated in words only


def absent(description: str) -> Any:
    """A field that is left out rather than null when it does not apply."""
    return Field(None, description=description, json_schema_extra=lambda schema: schema.pop("default", None))


class ServerMetadata(Answer):
    name: str
    version: str
    extensions: list[str] = Field(description="`binary_tensor_data`: tensors as raw bytes after the JSON")


class ServerLive(Answer):
    live: bool


class ServerReady(Answer):
    ready: bool


class ModelReady(Answer):
    name: str
    ready: bool


class TensorMetadata(Answer):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1: as many as the request has texts")


class ModelMetadata(Answer):
    name: str
    versions: list[str] = Field(description="every loaded version; each is addressable under /versions/")
    platform: str
    inputs: list[TensorMetadata]
    outputs: list[TensorMetadata]
    properties: dict[str, str] = Field(
        description="`kind`, `version` (the one described), and for a classifier `scores_labels`: the classes "
        "in the order of the `scores` columns, as a JSON list"
    )


class OutputTensor(Answer):
    name: str
    datatype: str
    shape: list[int]
    parameters: dict[str, int] = absent("`binary_data_size` when the tensor follows the JSON as bytes")
    data: list[float] | list[str] = absent("row-major; absent when the tensor is binary")


class InferenceResponse(Answer):
    model_config = Answer.model_config | {"protected_namespaces": ()}

    model_name: str
    model_version: str
    id: str = absent("the request's `id`, when it gave one")
    outputs: list[OutputTensor]


class InferenceError(Answer):
    error: str


MODELS = (ServerMetadata, ServerLive, ServerReady, ModelReady, ModelMetadata, InferenceResponse, InferenceError)
WHY = {
    400: "the request is malformed (JSON, binary framing, tensor, limits); `error` says where",
    401: "missing or wrong API key",
    404: "no such model or version is loaded",
    413: "body too large",
    503: "overloaded, loading or draining: retry",
    504: "not answered within the request timeout",
}
COMMON_OUTPUTS = ["label", "score", "prediction"]
OUTPUTS = (
    "Outputs: `label` (BYTES [N]: the class, or a tagger's intent), `score` (FP32 [N]: its calibrated "
    "probability), `prediction` (BYTES [N]: each text's whole /classify prediction as JSON, with tokens, "
    "spans and their character offsets, and `abstained`), and for a classifier `scores` (FP32 [N, C]: every "
    "class, in the order of the model metadata's `scores_labels`). Model metadata lists each model's outputs; "
    "`outputs` may name any of them (this schema lists those every model has). "
)
BINARY = (
    "Binary tensor data (what tritonclient and kserve send by default): the body is the JSON request followed "
    "by the input's bytes, the `Inference-Header-Content-Length` header gives the JSON's size, and the input "
    "has `parameters.binary_data_size` instead of `data`; a BYTES tensor is its elements one after another, "
    "each a 4-byte little-endian length and that many UTF-8 bytes. Outputs come back the same way when the "
    "request sets `parameters.binary_data_output` or an output sets `parameters.binary_data`: then the "
    "response is `application/octet-stream`, its `Inference-Header-Content-Length` header gives the JSON's "
    "size, and each binary output states its `binary_data_size` (FP32: little-endian floats, row-major)."
)


def open_inference_paths(registry: Registry | None, settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """(paths, component schemas) of the protocol for the versions loaded now (none while loading)."""
    _, definitions = models_json_schema([(model, "serialization") for model in MODELS], ref_template=REF)
    paths = server_paths()
    if registry is not None:
        paths.update(model_paths(registry, settings))
    return paths, definitions["$defs"]


def ref(model: type[BaseModel]) -> dict[str, Any]:
    return {"$ref": REF.format(model=model.__name__)}


def responses(ok: type[BaseModel] | None, *errors: int) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    if ok is not None:
        answers["200"] = {"description": "OK", "content": {JSON: {"schema": ref(ok)}}}
    error = {JSON: {"schema": ref(InferenceError)}}
    answers.update({str(status): {"description": WHY[status], "content": error} for status in errors})
    return answers


def operation(summary: str, operation_id: str, answers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"tags": TAGS, "summary": summary, "operationId": operation_id, "responses": answers, **extra}


def server_paths() -> dict[str, Any]:
    return {
        "/v2": {"get": operation("Server metadata", "v2_server_metadata", responses(ServerMetadata))},
        "/v2/health/live": {"get": operation("Server live", "v2_server_live", responses(ServerLive))},
        "/v2/health/ready": {"get": operation(
            "Server ready: bundles loaded and warm, not draining (503 otherwise, as /readyz)", "v2_server_ready",
            responses(ServerReady, 503))},
    }


def path_parameter(name: str, values: list[str]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "enum": values}}


def model_paths(registry: Registry, settings: Settings) -> dict[str, Any]:
    """Metadata, readiness and inference of any loaded model, by name, and by name and version."""
    names = registry.names()
    versions = sorted({bundle.version for bundle in registry.serving()})
    model = [path_parameter("model_name", names)]
    versioned = [*model, path_parameter("model_version", versions)]
    ready = responses(ModelReady, 401, 404, 503)
    ready["503"] = {"description": "draining (`ready: false`) or loading", "content": {JSON: {"schema": {
        "anyOf": [ref(ModelReady), ref(InferenceError)]}}}}
    metadata = responses(ModelMetadata, 401, 404, 503)
    return {
        "/v2/models/{model_name}": {"get": operation("Model metadata", "v2_model_metadata", metadata, parameters=model)},
        "/v2/models/{model_name}/ready": {"get": operation("Model ready", "v2_model_ready", ready, parameters=model)},
        "/v2/models/{model_name}/infer": {"post": infer_operation(
            "Inference with a model's default version", "v2_infer", settings, model)},
        "/v2/models/{model_name}/versions/{model_version}": {"get": operation(
            "Model metadata of one version", "v2_model_version_metadata", metadata, parameters=versioned)},
        "/v2/models/{model_name}/versions/{model_version}/ready": {"get": operation(
            "One version ready", "v2_model_version_ready", ready, parameters=versioned)},
        "/v2/models/{model_name}/versions/{model_version}/infer": {"post": infer_operation(
            "Inference with one version", "v2_version_infer", settings, versioned)},
    }


def infer_operation(summary: str, operation_id: str, settings: Settings, parameters: list[dict[str, Any]]) -> dict[str, Any]:
    answers = responses(InferenceResponse, 400, 401, 404, 413, 503, 504)
    answers["200"]["content"]["application/octet-stream"] = {"schema": {"type": "string", "format": "binary"}}
    return operation(summary, operation_id, answers, description=OUTPUTS + BINARY, parameters=parameters,
                     requestBody={"required": True, "content": {JSON: {"schema": request_schema(settings)}}})


def request_schema(settings: Settings) -> dict[str, Any]:
    """One BYTES input `text` of shape [N] holding N texts (each as /classify takes it); outputs by name."""
    text = TypeAdapter(text_type(settings)).json_schema()
    limit = settings.max_texts
    tensor: dict[str, Any] = {
        "type": "object",
        "required": ["name", "datatype", "shape", "data"],
        "properties": {
            "name": {"enum": [INPUT]},
            "datatype": {"enum": ["BYTES"]},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": limit},
                      "minItems": 1, "maxItems": 1, "description": "[N]: the number of texts in `data`"},
            "data": {"type": "array", "items": text, "minItems": 1, "maxItems": limit},
            "parameters": {"type": "object"},
        },
    }
    if limit <= MAX_SHAPE_BRANCHES:
        tensor["oneOf"] = [{"properties": {"shape": {"const": [count]}, "data": {"minItems": count, "maxItems": count}}}
                           for count in range(1, limit + 1)]
    wanted = {"type": "object", "required": ["name"], "properties": {
        "name": {"enum": COMMON_OUTPUTS}, "parameters": {"type": "object", "properties": {"binary_data": {"type": "boolean"}}}}}
    return {
        "type": "object",
        "required": ["inputs"],
        "properties": {
            "id": {"type": "string", "description": "echoed in the response"},
            "parameters": {"type": "object", "properties": {"binary_data_output": {"type": "boolean"}}},
            "inputs": {"type": "array", "items": tensor, "minItems": 1, "maxItems": 1},
            "outputs": {"type": "array", "items": wanted, "description": "default: every output"},
        },
        "examples": [{"id": "42", "inputs": [{"name": INPUT, "datatype": "BYTES", "shape": [2],
                                              "data": ["what a wonderful, moving film", "dull and lifeless"]}]}],
    }
