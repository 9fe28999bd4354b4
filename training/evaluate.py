"""Metrics the way the literature reports them, computed on predictions from `model.runtime`.

- Classifier: accuracy.
- Tagger: entity-level F1 with seqeval's default (conlleval-compatible) reading of BIO at the dataset's
  word level, intent accuracy, and sentence exact match (every word's tag and the intent right).

Gold labels never seen in training (ATIS dev has a slot tag and an intent of that kind) are kept as
they are: the model cannot predict them, so they simply count as errors; the confusion matrix groups
them under their own names. Nothing is mapped to an index, so an unseen label cannot crash evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from seqeval.metrics import classification_report, f1_score

from model.manifest import BundleManifest, ModelKind
from model.runtime import ClassifierPrediction, Prediction, TaggerPrediction
from training.examples import Examples, TaggedSentence
from training.inference import open_bundle, predict_all
from training.table_data import read_labelled
from training.tagging_data import read_tagging


@dataclass(frozen=True)
class SlotPredictions:
    """Word-level predictions for a list of sentences, in the same order."""

    tags: list[list[str]]
    intents: list[str]


def percent(value: float) -> float:
    return round(100.0 * value, 2)


def accuracy(gold: Sequence[str], predicted: Sequence[str]) -> float:
    """Share of equal labels, in percent."""
    if not gold:
        return 0.0
    return percent(sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold))


def slot_metrics(sentences: Sequence[TaggedSentence], predicted: SlotPredictions) -> dict[str, float]:
    """slot_f1 (entity level, seqeval default mode = conlleval), intent_acc and exact_match in percent."""
    gold_tags = [list(s.tags) for s in sentences]
    exact = sum(
        list(s.tags) == tags and s.intent == intent
        for s, tags, intent in zip(sentences, predicted.tags, predicted.intents, strict=True)
    )
    return {
        "slot_f1": percent(f1_score(gold_tags, predicted.tags)),
        "intent_acc": accuracy([s.intent for s in sentences], predicted.intents),
        "exact_match": percent(exact / max(len(sentences), 1)),
    }


def slot_report(sentences: Sequence[TaggedSentence], predicted: SlotPredictions) -> str:
    """seqeval's per-slot precision/recall/F1 table."""
    return classification_report([list(s.tags) for s in sentences], predicted.tags, digits=4, zero_division=0)


def slot_predictions(sentences: Sequence[TaggedSentence], predictions: Sequence[Prediction]) -> SlotPredictions:
    """A tagger's predictions read back at the sentences' word level (each word's first token)."""
    tagged = [p for p in predictions if isinstance(p, TaggerPrediction)]
    tags = [s.word_tags(p.tags, p.offsets) for s, p in zip(sentences, tagged, strict=True)]
    return SlotPredictions(tags, [p.intent for p in tagged])


def predicted_classes(predictions: Sequence[Prediction]) -> list[str]:
    return [p.label for p in predictions if isinstance(p, ClassifierPrediction)]


def metrics_of(kind: ModelKind, examples: Examples, predictions: Sequence[Prediction]) -> dict[str, float]:
    """The figures of a bundle's kind on labelled examples, from its predictions in the same order: the
    one definition behind the dev metrics during training, in the manifest, `evaluate` and `predict`."""
    if kind == "tagger":
        return slot_metrics(examples, slot_predictions(examples, predictions))  # type: ignore[arg-type]
    gold = [e.label for e in examples]  # type: ignore[union-attr]
    return {"accuracy": accuracy(gold, predicted_classes(predictions))}


def gold_label_names(manifest: BundleManifest) -> dict[str, str] | None:
    """The `--label-names` mapping the bundle was trained with (None: labels were used as found).

    Data whose labels are already the class names (`positive`) are read as they are, so both the raw
    form of a dataset and a relabelled copy can be scored."""
    names = manifest.training.get("label_names")
    if not names:
        return None
    return {**names, **{name: name for name in manifest.labels.classes or [] if name not in names}}


def evaluate_bundle(
    bundle_dir: Path, data_path: Path, data_format: str = "auto",
    text_column: str | None = None, label_column: str | None = None,
) -> dict[str, float]:
    """Metrics of the exported bundle (loaded and verified by `load_bundle`, i.e. what the service runs).

    A classifier trained with `--label-names` maps the data's gold labels the same way (from its manifest)."""
    manifest, runner = open_bundle(Path(bundle_dir))
    examples = read_examples(manifest, Path(data_path), data_format, text_column, label_column)
    predictions = predict_all(runner, [example.text for example in examples])
    return {"examples": len(examples), **metrics_of(manifest.kind, examples, predictions)}


def read_examples(
    manifest: BundleManifest, path: Path, data_format: str, text_column: str | None, label_column: str | None
) -> Examples:
    """Labelled data through the reader of the bundle's kind; a classifier's gold labels are mapped with the
    `--label-names` it was trained with."""
    if manifest.kind == "tagger":
        return read_tagging(path, data_format)  # type: ignore[arg-type]
    return read_labelled(path, data_format, text_column, label_column, gold_label_names(manifest))
