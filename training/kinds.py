"""The two kinds of task, each described once: data, labels, model, training targets, loss, ensemble,
metrics, report and the rows `predict` writes.

`training.tasks.run` drives either description through the same steps (read, tokenise, train the members,
score dev, export), and evaluation, prediction, export and the CLI look the description up by a config's
task or a manifest's kind (`TASKS[...]`), so everything that differs between a classifier and a tagger is
chosen in this module and nothing else in training asks which kind it runs.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from model.manifest import Labels, ModelKind
from model.runtime import ClassifierPrediction, Prediction, TaggerPrediction
from model.text import EncodedText, bio_spans
from training.config import ModelConfig, Task, TrainConfig
from training.ensembles import ClassifierEnsemble, TaggerEnsemble
from training.examples import DataError, DataReader, Examples, LabelledText, TaggedSentence
from training.loop import Batch
from training.metrics import (
    classifier_metrics,
    predicted_classes,
    slot_predictions,
    slot_report,
    tagger_metrics,
)
from training.models import BiLSTMClassifier, BiLSTMTagger, constrained_nll
from training.outliers import toward_uniform
from training.table_data import TABLE_DATA
from training.tagging_data import TAGGING_DATA

NO_TARGET = -100  # a tag after a sentence's end, and every target of an outlier (cross-entropy's ignore_index)

# (chosen training examples, None for an outlier text; their padded ids) → the batch's targets
Targets = Callable[[Sequence[int | None], Tensor], tuple[Tensor, ...]]


@dataclass(frozen=True)
class Prepared:
    """What a task reads from its training data once the tokenizer exists: labels and training targets."""

    labels: Labels
    targets: Targets
    summary: str  # the labels in a few words, for the log ("" when the first log line said it already)


@dataclass(frozen=True)
class DevReport:
    """The task's part of report.md: labels for the confusion matrix, a per-label table, one note."""

    gold: list[str]
    predicted: list[str]
    known: list[str]  # the model's labels, in output order
    details: str
    note: str


@dataclass(frozen=True)
class TaskKind:
    """One task, as `run`, `evaluate`, `predict` and the CLI need it. Each callable is a plain function below."""

    kind: ModelKind
    unit: str  # what one example is called in the log
    reads_chars: bool  # the model also reads each word's bytes (`--max-word-chars`)
    data: DataReader  # its data formats: train, dev, and what `evaluate` and `predict` read
    label_counts: Callable[[Examples], dict[str, Counter[str]]]  # by label family, for `--dry-run`
    headline: Callable[[TrainConfig, Examples], str]  # checks the training labels before any work; log text
    prepare: Callable[[TrainConfig, Examples, Sequence[EncodedText]], Prepared]
    new_model: Callable[[int, Labels, ModelConfig], nn.Module]  # (vocabulary size, labels, sizes) → model
    loss: Callable[[nn.Module, Batch, float], Tensor]  # (model, (ids, [chars,] lengths, *targets), outlier weight)
    ensemble: Callable[[Sequence[nn.Module]], nn.Module]
    # (labelled examples, predictions in the same order) → figures: the one definition behind the dev
    # metrics during training, in the manifest, `evaluate` and `predict`
    metrics: Callable[[Examples, Sequence[Prediction]], dict[str, float]]
    report: Callable[[Examples, Examples, Labels, Sequence[Prediction]], DevReport]  # (train, dev, ...)
    output_row: Callable[[Prediction], dict[str, Any]]  # a `predict` row beside line and text

    def word_chars(self, max_word_chars: int | None) -> int | None:
        """The bytes per word its model reads: `max_word_chars` when it has a character encoder, else None."""
        return max_word_chars if self.reads_chars else None


def label_index(labels: Sequence[str]) -> dict[str, int]:
    return {label: index for index, label in enumerate(labels)}


# --- tagger ------------------------------------------------------------------------------------------


def tagger_prepare(config: TrainConfig, train: Sequence[TaggedSentence], encoded: Sequence[EncodedText]) -> Prepared:
    """Slot tags are read at token level (a word cut into several tokens adds `I-x` after its `B-x`)."""
    train_tags = [s.token_tags(e.offsets) for s, e in zip(train, encoded)]
    slot_tags = ["O"] + sorted({t for tags in train_tags for t in tags} - {"O"})
    intents = sorted({s.intent for s in train})
    tag_ids, intent_ids = label_index(slot_tags), label_index(intents)
    tag_targets = [[tag_ids[t] for t in tags] for tags in train_tags]
    intent_targets = [intent_ids[s.intent] for s in train]

    def targets(chosen: Sequence[int | None], ids: Tensor) -> tuple[Tensor, ...]:
        tags = torch.full(ids.shape, NO_TARGET, dtype=torch.long)
        for row, i in enumerate(chosen):
            if i is not None:
                tags[row, : len(tag_targets[i])] = torch.tensor(tag_targets[i])
        return tags, torch.tensor([NO_TARGET if i is None else intent_targets[i] for i in chosen])

    return Prepared(Labels(intents=intents, slot_tags=slot_tags), targets,
                    f"{len(slot_tags)} tags, {len(intents)} intents, ")


def new_tagger(vocab_size: int, labels: Labels, m: ModelConfig) -> nn.Module:
    return BiLSTMTagger(vocab_size, labels.slot_tags or [], len(labels.intents or []), embed_dim=m.embed_dim,
                        byte_dim=m.byte_dim, char_filters=m.char_filters, hidden_size=m.hidden_size,
                        num_layers=m.num_layers, dropout=m.dropout)


def tagger_loss(model: nn.Module, batch: Batch, outlier_weight: float) -> Tensor:
    """Constrained-CRF loss of the tags (the sequence model `decode` decodes) plus intent cross-entropy;
    an outlier text adds only its intents' distance from uniform (its words have no slots to learn)."""
    ids, chars, lengths, tags, intent = batch
    tag_logits, intent_logits = model.scores(ids, chars, lengths)
    inside = intent != NO_TARGET
    if bool(inside.all()):
        slot_loss = constrained_nll(tag_logits, tags, lengths, model.inside, model.begin)
        return slot_loss + F.cross_entropy(intent_logits.float(), intent)
    loss = outlier_weight * toward_uniform(intent_logits[~inside])
    if not bool(inside.any()):
        return loss
    rows = inside.nonzero().squeeze(1)
    slot_loss = constrained_nll(tag_logits[rows], tags[rows], lengths[rows.to(lengths.device)], model.inside,
                                model.begin)
    return loss + slot_loss + F.cross_entropy(intent_logits[rows].float(), intent[rows])


def tagger_report(train: Examples, dev: Sequence[TaggedSentence], labels: Labels,
                  predictions: Sequence[Prediction]) -> DevReport:
    predicted = slot_predictions(dev, predictions)
    intents, slot_tags = labels.intents or [], labels.slot_tags or []
    unseen = sorted({t for s in dev for t in s.tags} - set(slot_tags)) + sorted({s.intent for s in dev} - set(intents))
    return DevReport([s.intent for s in dev], predicted.intents, intents, slot_report(dev, predicted),
                     f"Dev labels never seen in training (always counted wrong): {', '.join(unseen) or 'none'}.")


def tagger_label_counts(sentences: Sequence[TaggedSentence]) -> dict[str, Counter[str]]:
    return {"intents": Counter(s.intent for s in sentences),
            "slots (entities)": Counter(slot for s in sentences for slot, _, _ in bio_spans(s.tags))}


def tagger_row(prediction: TaggerPrediction) -> dict[str, Any]:
    """The intent and character spans, the shape the JSONL span reader reads back (to correct and retrain)."""
    spans = [{"start": span.start, "end": span.end, "label": span.slot, "score": span.score}
             for span in prediction.spans]
    return {"intent": prediction.intent, "intent_score": prediction.intent_score, "spans": spans,
            "abstained": prediction.abstained}


TAGGER = TaskKind(
    kind="tagger", unit="sentences", reads_chars=True, data=TAGGING_DATA,
    label_counts=tagger_label_counts,  # type: ignore[arg-type]
    headline=lambda config, train: "", prepare=tagger_prepare,  # type: ignore[arg-type]
    new_model=new_tagger, loss=tagger_loss, ensemble=TaggerEnsemble,  # type: ignore[arg-type]
    metrics=tagger_metrics, report=tagger_report, output_row=tagger_row,  # type: ignore[arg-type]
)


# --- classifier --------------------------------------------------------------------------------------


def class_order(seen: set[str], label_names: dict[str, str] | None) -> list[str]:
    """Classes in output order: the order of `--label-names` when given, else sorted."""
    if label_names is None:
        return sorted(seen)
    return [name for name in dict.fromkeys(label_names.values()) if name in seen]


def classifier_classes(config: TrainConfig, train: Sequence[LabelledText]) -> list[str]:
    classes = class_order({e.label for e in train}, config.label_names)
    if len(classes) < 2:
        raise DataError(config.train, None, f"needs at least two labels, found {classes}")
    return classes


def classifier_prepare(config: TrainConfig, train: Sequence[LabelledText], encoded: Sequence[EncodedText]) -> Prepared:
    classes = classifier_classes(config, train)
    class_ids = label_index(classes)
    class_targets = [class_ids[e.label] for e in train]

    def targets(chosen: Sequence[int | None], ids: Tensor) -> tuple[Tensor, ...]:
        return (torch.tensor([NO_TARGET if i is None else class_targets[i] for i in chosen]),)

    return Prepared(Labels(classes=classes), targets, "")


def new_classifier(vocab_size: int, labels: Labels, m: ModelConfig) -> nn.Module:
    return BiLSTMClassifier(vocab_size, len(labels.classes or []), embed_dim=m.embed_dim, hidden_size=m.hidden_size,
                            num_layers=m.num_layers, dropout=m.dropout)


def classifier_loss(model: nn.Module, batch: Batch, outlier_weight: float) -> Tensor:
    """Cross-entropy of the classes; an outlier text's classes are pulled toward uniform instead."""
    ids, lengths, target = batch
    logits = model.logits(ids, lengths).float()
    inside = target != NO_TARGET
    if bool(inside.all()):
        return F.cross_entropy(logits, target)
    loss = outlier_weight * toward_uniform(logits[~inside])
    return loss + F.cross_entropy(logits[inside], target[inside]) if bool(inside.any()) else loss


def classifier_report(train: Sequence[LabelledText], dev: Sequence[LabelledText], labels: Labels,
                      predictions: Sequence[Prediction]) -> DevReport:
    classes = labels.classes or []
    counts = Counter(e.label for e in train)
    return DevReport([e.label for e in dev], predicted_classes(predictions), classes, "",
                     "Training label counts: " + ", ".join(f"{label}: {counts[label]:,}" for label in classes) + ".")


def classifier_row(prediction: ClassifierPrediction) -> dict[str, Any]:
    """The class and every class's probability; `label` as the table readers' JSONL reads it back."""
    return {"label": prediction.label, "score": prediction.score, "scores": prediction.scores,
            "abstained": prediction.abstained}


CLASSIFIER = TaskKind(
    kind="classifier", unit="texts", reads_chars=False, data=TABLE_DATA,
    label_counts=lambda examples: {"labels": Counter(e.label for e in examples)},  # type: ignore[union-attr]
    headline=lambda config, train: f", classes {classifier_classes(config, train)}",  # type: ignore[arg-type]
    prepare=classifier_prepare, new_model=new_classifier, loss=classifier_loss,  # type: ignore[arg-type]
    ensemble=ClassifierEnsemble, metrics=classifier_metrics, report=classifier_report,  # type: ignore[arg-type]
    output_row=classifier_row,  # type: ignore[arg-type]
)

TASKS: dict[Task, TaskKind] = {"tagger": TAGGER, "classifier": CLASSIFIER}
