"""Request and response models: the public contract, with the examples shown at /docs.

Requests are validated with these models (straight from the raw bytes, in Rust). Responses are built as
plain dicts of exactly these shapes and encoded with orjson: the models document them and the contract
tests check them, but the hot path does not re-validate what it has just built.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model

from app.config import Settings

EXAMPLE_TEXT = "I want to fly from Boston to Denver"


class ClassifyRequestBase(BaseModel):
    """`text` or `texts`, exactly one; `models` picks bundles (default: every loaded bundle)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"text": EXAMPLE_TEXT},
                {"texts": ["what a wonderful, moving film", EXAMPLE_TEXT], "models": ["sentiment"]},
                {"text": "what a wonderful, moving film", "models": ["sentiment"], "explain": True},
            ]
        },
    )


def classify_request_model(settings: Settings) -> type[ClassifyRequestBase]:
    """The request model with this server's limits, so /docs shows them and violations name the field.

    Fields default to None but are not nullable: `{"text": null}` is refused like any other wrong type.
    A text must hold a non-whitespace character (Unicode White_Space, as the tokenizer splits on).
    """
    text = Annotated[str, Field(min_length=1, max_length=settings.max_text_chars, pattern=r"\S")]
    name = Annotated[str, Field(min_length=1, max_length=64)]
    return create_model(  # type: ignore[call-overload,no-any-return]
        "ClassifyRequest",
        __base__=ClassifyRequestBase,
        text=(text, Field(None, description="one text to classify")),
        texts=(
            list[text],
            Field(None, min_length=1, max_length=settings.max_texts, description="several texts, answered in order"),
        ),
        models=(list[name], Field(None, min_length=1, max_length=16, description="bundle names; default: all loaded")),
        explain=(
            StrictBool,
            Field(
                False,
                description="add each token's attribution to every prediction (`explanation`); costs about one "
                f"forward a token; texts of at most {settings.explain_max_tokens} tokens",
            ),
        ),
    )


def classify_request_schema(model: type[ClassifyRequestBase]) -> dict[str, Any]:
    """The JSON schema of the request as the service enforces it: exactly one of `text` and `texts`."""
    schema = model.model_json_schema()
    for field in schema["properties"].values():
        if field.get("default", False) is None:  # None means "not given", not a value one may send
            field.pop("default")
    schema["oneOf"] = [{"required": ["text"]}, {"required": ["texts"]}]
    return schema


class TokenAttribution(BaseModel):
    text: str
    start: int = Field(description="character offset into the text as sent")
    end: int
    attribution: float = Field(
        description="drop of the predicted label's probability (classifier: the label; tagger: the intent) "
        "when this token is masked to the unknown word; larger = pushed the answer more"
    )


EXPLANATION = Field(None, description="one entry per token; only when the request sets `explain`")


class ClassScores(BaseModel):
    label: str
    score: float = Field(description="probability of `label`")
    scores: dict[str, float] = Field(description="probability of every class")
    explanation: list[TokenAttribution] = EXPLANATION


class IntentLabel(BaseModel):
    label: str
    score: float


class TokenTag(BaseModel):
    text: str
    start: int = Field(description="character offset into the text as sent")
    end: int
    tag: str = Field(description="BIO slot tag")
    score: float = Field(description="probability of `tag`")


class SlotSpan(BaseModel):
    slot: str
    value: str = Field(description="text[start:end]")
    start: int
    end: int
    score: float = Field(description="mean probability of the span's tags")


class TaggerResult(BaseModel):
    intent: IntentLabel
    tokens: list[TokenTag]
    slots: list[SlotSpan]
    explanation: list[TokenAttribution] = EXPLANATION


Prediction = ClassScores | TaggerResult


class TextResult(BaseModel):
    text: str
    predictions: dict[str, Prediction] = Field(description="one entry per bundle asked for")


class SingleResponse(TextResult):
    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "text": EXAMPLE_TEXT,
                    "predictions": {
                        "sentiment": {"label": "positive", "score": 0.91, "scores": {"negative": 0.09, "positive": 0.91}},
                        "atis": {
                            "intent": {"label": "atis_flight", "score": 0.99},
                            "tokens": [
                                {"text": "Boston", "start": 19, "end": 25, "tag": "B-fromloc.city_name", "score": 0.98}
                            ],
                            "slots": [
                                {"slot": "fromloc.city_name", "value": "Boston", "start": 19, "end": 25, "score": 0.98}
                            ],
                        },
                    },
                    "model_versions": {"sentiment": "20261127-101500", "atis": "20261127-101200"},
                }
            ]
        },
    )

    model_versions: dict[str, str]


class BatchResponse(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    results: list[TextResult]
    model_versions: dict[str, str]


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    kind: Literal["classifier", "tagger"]
    version: str
    labels: dict[str, list[str]]
    metrics: dict[str, dict[str, float]]
    parameters: int
    device: str
    half: bool
    max_batch_size: int
    gpu_memory_bytes: int = Field(description="bytes of GPU memory held by the weights; 0 on CPU")


class ModelsResponse(BaseModel):
    models: list[ModelInfo]


class HealthResponse(BaseModel):
    status: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = Field(description="the offending request field, when one is to blame")


class ErrorResponse(BaseModel):
    error: ErrorDetail
