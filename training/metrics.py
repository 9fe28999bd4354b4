"""Metrics the way the literature reports them, computed on predictions from `model.runtime`.

- Classifier: accuracy.
- Tagger: entity-level F1 with seqeval's default (conlleval-compatible) reading of BIO at the dataset's
  word level, intent accuracy, and sentence exact match (every word's tag and the intent right).

Gold labels never seen in training (ATIS dev has a slot tag and an intent of that kind) are kept as
they are: the model cannot predict them, so they simply count as errors; the confusion matrix groups
them under their own names. Nothing is mapped to an index, so an unseen label cannot crash evaluation.
Which of these a bundle is scored with is its kind's choice (`training.kinds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from model.runtime import ClassifierPrediction, Prediction, TaggerPrediction
from training.examples import LabelledText, TaggedSentence


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
    from seqeval.metrics import f1_score  # with scikit-learn behind it: loaded when a tagger is scored

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
    from seqeval.metrics import classification_report

    return classification_report([list(s.tags) for s in sentences], predicted.tags, digits=4, zero_division=0)


def slot_predictions(sentences: Sequence[TaggedSentence], predictions: Sequence[Prediction]) -> SlotPredictions:
    """A tagger's predictions read back at the sentences' word level (each word's first token)."""
    tagged = [p for p in predictions if isinstance(p, TaggerPrediction)]
    tags = [s.word_tags(p.tags, p.offsets) for s, p in zip(sentences, tagged, strict=True)]
    return SlotPredictions(tags, [p.intent for p in tagged])


def predicted_classes(predictions: Sequence[Prediction]) -> list[str]:
    return [p.label for p in predictions if isinstance(p, ClassifierPrediction)]


def tagger_metrics(sentences: Sequence[TaggedSentence], predictions: Sequence[Prediction]) -> dict[str, float]:
    """A tagger's figures on labelled sentences, from its predictions in the same order."""
    return slot_metrics(sentences, slot_predictions(sentences, predictions))


def classifier_metrics(examples: Sequence[LabelledText], predictions: Sequence[Prediction]) -> dict[str, float]:
    """A classifier's figure on labelled texts, from its predictions in the same order."""
    return {"accuracy": accuracy([e.label for e in examples], predicted_classes(predictions))}
