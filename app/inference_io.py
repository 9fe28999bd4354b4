"""Open Inference Protocol messages ↔ what the service runs: texts in, /classify's predictions out as tensors.

A model is a bundle version. It takes one input, `text` (BYTES, shape [N]: N texts, within the same limits
as /classify), sent as JSON `data` or as binary tensor data (app.tensors), and answers with tensors built
from the very payloads /classify returns: `label` (BYTES [N]: the class, or a tagger's intent), `score`
(FP32 [N]), for a classifier `scores` (FP32 [N, C], classes in the order model metadata lists them), and
`prediction` (BYTES [N]: each text's whole /classify prediction as JSON, spans and tokens included).
Every refusal is a 400 naming the part of the request to blame; the handler decides nothing here.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from app import errors, tensors
from app.bundles import ServedBundle
from app.config import Settings
from app.schemas import BLANK_TEXT, NOT_ONLY_WHITESPACE
from model.validation import first_error

INPUT = "text"
PLATFORM = "pytorch_torchscript"
EXTENSIONS = ["binary_tensor_data"]
HEADER_LENGTH = "inference-header-content-length"  # the binary extension's header (request and response)
MEANINGFUL = re.compile(NOT_ONLY_WHITESPACE)


class RequestInput(BaseModel):
    """One input tensor as sent; absent fields default, null ones are refused (the spec never sends null)."""

    model_config = ConfigDict(extra="ignore")

    name: StrictStr
    shape: list[StrictInt]
    datatype: StrictStr
    parameters: dict[str, Any] = Field(default_factory=dict)
    data: list[Any] = Field(None)  # type: ignore[assignment]  # absent: the tensor is binary


class RequestOutput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: StrictStr
    parameters: dict[str, Any] = Field(default_factory=dict)


class InferenceRequest(BaseModel):
    """The JSON part of an inference request. Unknown keys (kserve's client adds `model_name`) and unknown
    parameters are ignored, as the protocol lets a server ignore what it does not implement."""

    model_config = ConfigDict(extra="ignore")

    id: StrictStr = Field(None)  # type: ignore[assignment]
    parameters: dict[str, Any] = Field(default_factory=dict)
    inputs: list[RequestInput]
    outputs: list[RequestOutput] = Field(default_factory=list)


@dataclass(frozen=True, slots=True)
class InferCall:
    """What a request asks for: its id, the texts, and each output with whether it goes back as binary."""

    id: str | None
    texts: list[str]
    outputs: list[tuple[str, bool]]


def invalid(where: str, message: str) -> errors.ApiError:
    return errors.ApiError(400, "invalid_input", f"{where}: {message}", where)


def read_call(body: bytes, header: str | None, bundle: ServedBundle, settings: Settings) -> InferCall:
    """Parse and check a whole request body (JSON, or JSON header + binary tensors when `header` is given)."""
    try:
        cut = len(body) if header is None else tensors.header_length(header, len(body))
    except tensors.TensorError as exc:
        raise invalid("Inference-Header-Content-Length", str(exc)) from None
    try:
        request = InferenceRequest.model_validate_json(body[:cut])
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise invalid("body", first["msg"]) from None
        raise invalid(*first_error(exc, "body")) from None
    texts = input_texts(request, body[cut:], header is not None, settings)
    return InferCall(request.id, texts, chosen_outputs(request, bundle))


def input_texts(request: InferenceRequest, binary: bytes, framed: bool, settings: Settings) -> list[str]:
    """The texts of the one input `text`: BYTES, shape [N] with 1 ≤ N ≤ the request limit, each text checked
    as /classify checks it."""
    if len(request.inputs) != 1:
        raise invalid("inputs", f"give exactly one input, '{INPUT}' (BYTES, shape [N]); got {len(request.inputs)}")
    tensor = request.inputs[0]
    if tensor.name != INPUT:
        raise invalid("inputs.0.name", f"this model's input is '{INPUT}', not '{tensor.name[:100]}'")
    if tensor.datatype != "BYTES":
        raise invalid("inputs.0.datatype", f"input '{INPUT}' is BYTES, not '{tensor.datatype[:40]}'")
    if len(tensor.shape) != 1 or not 1 <= tensor.shape[0] <= settings.max_texts:
        raise invalid("inputs.0.shape", f"must be [N], N texts with 1 ≤ N ≤ {settings.max_texts}; got {tensor.shape[:8]}")
    count = tensor.shape[0]
    texts = tensor_texts(tensor, binary, framed, count)
    if len(texts) != count:
        raise invalid("inputs.0.data", f"shape [{count}] but the tensor holds {len(texts)} elements")
    for index, text in enumerate(texts):
        if len(text) > settings.max_text_chars:
            raise invalid(f"inputs.0.data.{index}", f"longer than {settings.max_text_chars} characters")
        if MEANINGFUL.search(text) is None:
            raise invalid(f"inputs.0.data.{index}", BLANK_TEXT)
    return texts


def tensor_texts(tensor: RequestInput, binary: bytes, framed: bool, count: int) -> list[str]:
    """The elements of the input, from JSON `data` or from its binary data after the header."""
    size = tensor.parameters.get("binary_data_size")
    try:
        if tensor.data is not None:
            if size is not None:
                raise tensors.TensorError("give 'data' or parameters.binary_data_size, not both")
            tensors.split_binary(binary, [])  # nothing may follow the header when no input is binary
            return json_texts(tensor.data)
        if not framed:
            raise tensors.TensorError("no 'data'; binary data needs the Inference-Header-Content-Length header")
        if type(size) is not int or size < 0:
            raise tensors.TensorError("parameters.binary_data_size must be the tensor's size in bytes")
        (raw,) = tensors.split_binary(binary, [size])
        return tensors.utf8_texts(tensors.decode_bytes_elements(raw, count))
    except tensors.TensorError as exc:
        raise invalid("inputs.0", str(exc)) from None


def json_texts(data: list[Any]) -> list[str]:
    for index, element in enumerate(data):
        if type(element) is not str:
            raise tensors.TensorError(f"element {index} of a BYTES tensor in JSON must be a string")
    return data


def chosen_outputs(request: InferenceRequest, bundle: ServedBundle) -> list[tuple[str, bool]]:
    """The outputs asked for (all when none is named), each once, in the order asked, with its encoding:
    binary when its `binary_data` parameter says so, else when the request's `binary_data_output` does."""
    default = flag(request.parameters, "binary_data_output", "parameters", False)
    available = [name for name, _, _ in output_columns(bundle)]
    if not request.outputs:
        return [(name, default) for name in available]
    chosen: dict[str, bool] = {}
    for index, output in enumerate(request.outputs):
        if output.name not in available:
            raise invalid(f"outputs.{index}.name", f"model '{bundle.name}' has no output '{output.name[:100]}'; "
                                                   f"it has {', '.join(available)}")
        chosen.setdefault(output.name, flag(output.parameters, "binary_data", f"outputs.{index}.parameters", default))
    return list(chosen.items())


def flag(parameters: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = parameters.get(key, default)
    if type(value) is not bool:
        raise invalid(f"{where}.{key}", "must be true or false")
    return value


Column = Callable[[ServedBundle, list[dict[str, Any]]], list[Any]]


def output_columns(bundle: ServedBundle) -> list[tuple[str, str, Column]]:
    """(name, datatype, values from the payloads) of every output the bundle answers with, in order."""
    tagger = bundle.runner.manifest.kind == "tagger"
    head: Callable[[dict[str, Any]], dict[str, Any]] = (lambda p: p["intent"]) if tagger else (lambda p: p)
    columns: list[tuple[str, str, Column]] = [
        ("label", "BYTES", lambda _, payloads: [head(p)["label"] for p in payloads]),
        ("score", "FP32", lambda _, payloads: [head(p)["score"] for p in payloads]),
    ]
    if not tagger:
        columns.append(("scores", "FP32", lambda b, payloads: [p["scores"][c] for p in payloads for c in classes(b)]))
    columns.append(("prediction", "BYTES", lambda _, payloads: [orjson.dumps(p).decode() for p in payloads]))
    return columns


def classes(bundle: ServedBundle) -> list[str]:
    return bundle.runner.manifest.labels.classes or []


def output_shape(name: str, bundle: ServedBundle, count: int) -> list[int]:
    return [count, len(classes(bundle))] if name == "scores" else [count]


def inference_response(bundle: ServedBundle, call: InferCall, payloads: list[dict[str, Any]]) -> tuple[bytes, int | None]:
    """The response body, and the JSON header's length when binary outputs follow it (else None)."""
    columns = {name: (datatype, values) for name, datatype, values in output_columns(bundle)}
    outputs, blobs = [], []
    for name, binary in call.outputs:
        datatype, values = columns[name]
        data = values(bundle, payloads)
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": output_shape(name, bundle, len(payloads))}
        if binary:
            blob = tensors.encode_fp32(data) if datatype == "FP32" else tensors.encode_bytes_elements(
                text.encode() for text in data)
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = data
        outputs.append(tensor)
    head: dict[str, Any] = {"model_name": bundle.name, "model_version": bundle.version}
    if call.id is not None:
        head["id"] = call.id
    head["outputs"] = outputs
    header = orjson.dumps(head)
    return (header, None) if not blobs else (header + b"".join(blobs), len(header))


def model_metadata(bundle: ServedBundle, versions: list[str]) -> dict[str, Any]:
    """Model metadata: its tensors, every loaded version, and in `properties` (strings, as the spec's
    schema has them) the kind, this version, and the class order of `scores` as a JSON list."""
    properties = {"kind": bundle.runner.manifest.kind, "version": bundle.version}
    if bundle.runner.manifest.kind == "classifier":
        properties["scores_labels"] = orjson.dumps(classes(bundle)).decode()
    return {
        "name": bundle.name,
        "versions": versions,
        "platform": PLATFORM,
        "inputs": [{"name": INPUT, "datatype": "BYTES", "shape": [-1]}],
        "outputs": [{"name": name, "datatype": datatype, "shape": output_shape(name, bundle, -1)}
                    for name, datatype, _ in output_columns(bundle)],
        "properties": properties,
    }
