"""Request and response models: the public contract, with the examples shown at /docs.

Requests are validated with these models (straight from the raw bytes, in Rust). Responses are built as
plain dicts and encoded with orjson, so the hot path does not re-validate what it has just built; these
models are the one definition of their shapes: /openapi.json is generated from them, and the contract
tests validate every kind of answer against them, refusing any key they do not define.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model

from app.config import Settings

EXAMPLE_TEXT = "I want to fly from Boston to Denver"
# Unicode White_Space spelled out: `\S` means other sets in other regex dialects (ECMAScript's, which
# clients read the schema with, leaves out U+0085 and adds U+FEFF), so the schema says exactly what the
# server checks.
NOT_ONLY_WHITESPACE = r"[^\t\n\x0b\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
BLANK_TEXT = "text must contain a non-whitespace character"  # the message for a text NOT_ONLY_WHITESPACE refuses


def text_type(settings: Settings) -> Any:
    """One text as /classify and /v2 take it, with this server's limit: its schema is what both document."""
    return Annotated[str, Field(min_length=1, max_length=settings.max_text_chars, pattern=NOT_ONLY_WHITESPACE)]


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
    text = text_type(settings)
    name = Annotated[str, Field(min_length=1, max_length=200)]
    return create_model(  # type: ignore[call-overload,no-any-return]
        "ClassifyRequest",
        __base__=ClassifyRequestBase,
        text=(text, Field(None, description="one text to classify")),
        texts=(
            list[text],
            Field(None, min_length=1, max_length=settings.max_texts, description="several texts, answered in order"),
        ),
        models=(
            list[name],
            Field(None, min_length=1, max_length=16,
                  description="bundle names, `NAME` (its default version) or `NAME@VERSION`; default: every "
                  "bundle's default version"),
        ),
        abstain=(
            StrictBool,
            Field(
                True,
                description="let each bundle abstain on texts outside its scope (`abstained: true`, the label "
                "and score still given); false: every prediction has `abstained: false`",
            ),
        ),
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


class Answer(BaseModel):
    """A response shape: exactly these keys (tests validate real answers against it)."""

    model_config = ConfigDict(extra="forbid")


class TokenAttribution(Answer):
    text: str
    start: int = Field(description="character offset into the text as sent")
    end: int
    attribution: float = Field(
        description="drop of the predicted label's probability (classifier: the label; tagger: the intent) "
        "when this token is masked to the unknown word; larger = pushed the answer more"
    )


EXPLANATION = Field(
    None,
    description="one entry per token; only when the request sets `explain`",
    json_schema_extra=lambda schema: schema.pop("default", None),  # absent, never null
)


ABSTAINED = Field(
    description="the bundle's abstention rule says the text is out of its scope: the label and scores are "
    "its best guess, given for logging, not an answer (see /models for each bundle's rule)"
)


class ClassScores(Answer):
    label: str
    score: float = Field(description="calibrated probability of `label`")
    scores: dict[str, float] = Field(description="calibrated probability of every class")
    abstained: bool = ABSTAINED
    explanation: list[TokenAttribution] = EXPLANATION


class IntentLabel(Answer):
    label: str
    score: float = Field(description="calibrated probability of the intent")


class TokenTag(Answer):
    text: str
    start: int = Field(description="character offset into the text as sent")
    end: int
    tag: str = Field(description="BIO slot tag")
    score: float = Field(description="probability of `tag`")


class SlotValue(Answer):
    slot: str
    value: str = Field(description="text[start:end]")
    start: int
    end: int
    score: float = Field(description="mean probability of the span's tags")


class TaggerResult(Answer):
    intent: IntentLabel
    tokens: list[TokenTag]
    slots: list[SlotValue]
    abstained: bool = Field(description="out of the bundle's scope: intent and slots alike are only a guess")
    explanation: list[TokenAttribution] = EXPLANATION


BundleAnswer = ClassScores | TaggerResult


class TextResult(Answer):
    text: str
    predictions: dict[str, BundleAnswer] = Field(description="one entry per bundle asked for")


class SingleResponse(TextResult):
    model_config = ConfigDict(
        protected_namespaces=(),
        json_schema_extra={
            "examples": [
                {
                    "text": EXAMPLE_TEXT,
                    "predictions": {
                        "sentiment": {"label": "positive", "score": 0.91, "scores": {"negative": 0.09, "positive": 0.91},
                                      "abstained": False},
                        "atis": {
                            "intent": {"label": "atis_flight", "score": 0.99},
                            "tokens": [
                                {"text": "Boston", "start": 19, "end": 25, "tag": "B-fromloc.city_name", "score": 0.98}
                            ],
                            "slots": [
                                {"slot": "fromloc.city_name", "value": "Boston", "start": 19, "end": 25, "score": 0.98}
                            ],
                            "abstained": False,
                        },
                    },
                    "model_versions": {"sentiment": "20261127-101500", "atis": "20261127-101200"},
                }
            ]
        },
    )

    model_versions: dict[str, str]


class BatchResponse(Answer):
    model_config = ConfigDict(protected_namespaces=())

    results: list[TextResult]
    model_versions: dict[str, str]


class CalibrationInfo(Answer):
    temperature: float = Field(description="served probabilities are softmax(log p / temperature)")
    fitted_on: str
    before: dict[str, float] = Field(description="dev figures before: ece (%, 15 bins), nll, brier")
    after: dict[str, float]


class AbstentionInfo(Answer):
    min_score: float | None = Field(description="abstain below this calibrated top score")
    labels: list[str] = Field(description="predicted labels that mean out of scope")
    chosen_on: str = Field(description="how the rule was chosen; `SEQSERVE_ABSTAIN` when set by the operator")
    dev: dict[str, float] = Field(description="the dev figures that justify the rule")


class ModelInfo(Answer):
    model_config = ConfigDict(protected_namespaces=())

    name: str
    kind: Literal["classifier", "tagger"]
    version: str
    default: bool = Field(description="this version answers requests that name the bundle without a version")
    created_at: str = Field(description="when the version was exported (ISO 8601)")
    labels: dict[str, list[str]]
    metrics: dict[str, dict[str, float]]
    parameters: int
    device: str
    half: bool
    max_batch_size: int
    gpu_memory_bytes: int = Field(description="bytes of GPU memory held by the weights; 0 on CPU")
    calibration: CalibrationInfo | None = Field(description="temperature scaling of the scores; null: raw")
    abstention: AbstentionInfo | None = Field(description="the rule this bundle abstains by; null: never")


class ModelsResponse(Answer):
    models: list[ModelInfo]


class RepositoryEntry(Answer):
    name: str
    folder: str = Field(description="the version's folder in the repository; empty when the bundle is its name's folder")
    version: str | None = Field(description="the manifest's version; null when the manifest cannot be read")
    state: Literal["loading", "ready", "unloading", "failed"]
    reason: str | None = Field(description="why it failed, or why a change to its folder was refused")
    default: bool = Field(description="this version answers requests that name the bundle without a version")


class RepositoryResponse(Answer):
    models: list[RepositoryEntry]


class HealthResponse(Answer):
    status: str


class ErrorDetail(Answer):
    code: str
    message: str
    field: str | None = Field(description="the offending request field, when one is to blame")


class ErrorResponse(Answer):
    error: ErrorDetail
