"""BundleManifest: the contract between the training job that writes a bundle and the service that loads it.

A bundle is a folder holding `manifest.json`, the TorchScript model, the tokenizer and a report. The
manifest says what the model is (kind, labels in output-index order, limits) and pins every other file by
its sha256, so a bundle that was edited or corrupted after export is refused instead of served.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from model.validation import first_error

MANIFEST_FILE = "manifest.json"
MODEL_FILE = "model.pt"
TOKENIZER_FILE = "tokenizer.json"
PAD_TOKEN, UNK_TOKEN = "[PAD]", "[UNK]"
PAD_ID, UNK_ID = 0, 1

ModelKind = Literal["classifier", "tagger"]


class BundleError(Exception):
    """A bundle that cannot be served; the message names the bundle and the failed check in one line."""

    def __init__(self, bundle: str, problem: str) -> None:
        super().__init__(f"bundle '{bundle}': {problem}")
        self.bundle = bundle
        self.problem = problem


class Labels(BaseModel):
    """Label names in the order of the model's output indices."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classes: list[str] | None = None
    intents: list[str] | None = None
    slot_tags: list[str] | None = None


class BundleExample(BaseModel):
    """One input and what the eager model answered at export; the service re-checks it at load."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str
    labels: list[str] = Field(description="classifier: [class]; tagger: [intent, tag of each token...]")
    scores: list[float] = Field(
        description="classifier: probability of every class; tagger: intent probability, then each tag's"
    )


class VectorsInfo(BaseModel):
    """The pretrained vectors the word embeddings started from (the rows live inside the model file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    file: str = Field(description="name of the vectors file (no folder), or of named vectors (glove-6b-50d)")
    dim: int = Field(gt=0)
    sha256: str
    training_words: int = Field(ge=0, description="words of the training vocabulary ([PAD] and [UNK] aside)")
    covered_words: int = Field(ge=0, description="training words that started from a vector")
    coverage: float = Field(ge=0, le=1, description="covered_words / training_words")
    extra_words: int = Field(ge=0, description="words added to the vocabulary from the vectors, unseen in training")
    frozen: bool = Field(description="the embedding matrix was kept as it started")


class Calibration(BaseModel):
    """Temperature scaling of the sentence-level head (Guo et al. 2017, "On Calibration of Modern Neural
    Networks"): served probabilities are softmax(log p / T), which never changes the top label.

    Fitted on the dev split by NLL; `before` and `after` are that split's figures (ECE over 15 equal-width
    bins, in %; NLL; Brier score).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(gt=0)
    fitted_on: str = Field(description="the split it was fitted on (its last two path parts)")
    before: dict[str, float] = Field(default_factory=dict)
    after: dict[str, float] = Field(default_factory=dict)


class AbstentionRule(BaseModel):
    """When the bundle says "out of scope": its calibrated top probability (the class, or a tagger's
    intent) is below `min_score`, or the label it predicts means "out of scope" (CLINC150's `oos`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_score: float | None = Field(None, ge=0, le=1, description="abstain below this calibrated top probability")
    labels: list[str] = Field(default_factory=list, description="predicted labels that mean out of scope")
    chosen_on: str = Field("", description="how the thresholds were chosen")
    dev: dict[str, float] = Field(default_factory=dict, description="the dev figures that justify the rule")

    def abstains(self, label: str, score: float) -> bool:
        return label in self.labels or (self.min_score is not None and score < self.min_score)


class BundleManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, protected_namespaces=())

    format_version: Literal[1] = 1
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    kind: ModelKind
    version: str = Field(min_length=1)
    created_at: datetime
    source_commit: str | None = None
    labels: Labels
    model_file: str = MODEL_FILE
    tokenizer: str = TOKENIZER_FILE
    vocab_size: int = Field(gt=2)
    max_seq_len: int = Field(
        gt=0, description="training read at most this many tokens of a text; serving reads every token"
    )
    max_word_chars: int | None = Field(
        default=None, gt=0, description="tagger only: UTF-8 bytes per word seen by the character encoder"
    )
    parameters: int = Field(gt=0)
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, dict[str, float]] = Field(default_factory=dict)
    files: dict[str, str] = Field(description="sha256 of every other file in the bundle")
    example: BundleExample | None = None
    vectors: VectorsInfo | None = None
    calibration: Calibration | None = None
    abstention: AbstentionRule | None = None

    @model_validator(mode="after")
    def _labels_match_kind(self) -> BundleManifest:
        if self.kind == "classifier":
            _require_labels("classes", self.labels.classes, min_count=2)
        else:
            _require_labels("intents", self.labels.intents, min_count=1)
            _require_labels("slot_tags", self.labels.slot_tags, min_count=1)
            if "O" not in (self.labels.slot_tags or []):
                raise ValueError("labels.slot_tags must contain 'O'")
            if self.max_word_chars is None:
                raise ValueError("max_word_chars is required for a tagger")
        for required in (self.model_file, self.tokenizer):
            if required not in self.files:
                raise ValueError(f"files must list {required}")
        unknown = set(self.abstention.labels if self.abstention else []) - set(self.sentence_labels())
        if unknown:
            raise ValueError(f"abstention.labels names labels the model does not have: {sorted(unknown)}")
        return self

    def sentence_labels(self) -> list[str]:
        """The labels of the sentence-level head: a classifier's classes, a tagger's intents."""
        return list(self.labels.classes or self.labels.intents or [])

    def output_sizes(self) -> dict[str, int]:
        """How many outputs each head of the model must have, by label list name."""
        if self.kind == "classifier":
            return {"classes": len(self.labels.classes or [])}
        return {"intents": len(self.labels.intents or []), "slot_tags": len(self.labels.slot_tags or [])}


def _require_labels(field: str, values: list[str] | None, min_count: int) -> None:
    if values is None or len(values) < min_count:
        raise ValueError(f"labels.{field} needs at least {min_count} entries")
    if len(set(values)) != len(values):
        raise ValueError(f"labels.{field} has duplicates")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_manifest(bundle_dir: Path) -> BundleManifest:
    """Parse and validate `manifest.json`; every failure becomes one BundleError line."""
    name = bundle_dir.name
    path = bundle_dir / MANIFEST_FILE
    if not path.is_file():
        raise BundleError(name, f"{MANIFEST_FILE} is missing")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(name, f"{MANIFEST_FILE} is not valid JSON ({exc})") from None
    try:
        return BundleManifest.model_validate(raw)
    except ValidationError as exc:
        where, message = first_error(exc, "manifest")
        raise BundleError(name, f"{MANIFEST_FILE} field '{where}': {message}") from None


def verify_files(bundle_dir: Path, manifest: BundleManifest) -> None:
    """Check the sha256 of every file the manifest pins; refuse paths that leave the bundle."""
    root = bundle_dir.resolve()
    for filename, expected in manifest.files.items():
        path = (bundle_dir / filename).resolve()
        if root not in path.parents:
            raise BundleError(bundle_dir.name, f"file '{filename}' points outside the bundle")
        if not path.is_file():
            raise BundleError(bundle_dir.name, f"file '{filename}' listed in the manifest is missing")
        if sha256_file(path) != expected:
            raise BundleError(bundle_dir.name, f"sha256 mismatch for '{filename}' (file changed since export)")


def write_manifest(bundle_dir: Path, manifest: BundleManifest) -> None:
    text = manifest.model_dump_json(indent=2, exclude_none=True)
    (bundle_dir / MANIFEST_FILE).write_text(text + "\n", encoding="utf-8")


def restamp(bundle_dir: Path, version: str) -> None:
    """Give a copied bundle a new version, created now: to a server, what a retrained bundle looks like.
    The checksums stay valid, since only the manifest changes."""
    created = datetime.now(UTC).replace(microsecond=0)
    write_manifest(bundle_dir, read_manifest(bundle_dir).model_copy(update={"version": version, "created_at": created}))
