"""run(config): read data → tokenizer → model → fit → report → export, for each task.

This is the glue between the readers, the loop and export. Dev metrics during training go through a
`BundleRunner` around the eager model, i.e. the same tokenisation, padding and decoding code that the
exported bundle runs, so the per-epoch figures and the exported bundle's figures agree.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer
from torch import Tensor, nn

from model.manifest import PAD_ID, UNK_ID, Labels, ModelKind
from model.runtime import BundleRunner
from model.text import EncodedText, encode_texts, pad_batch
from training.config import TrainConfig
from training.data import DataError
from training.evaluate import accuracy, predict_labels, predict_slots, slot_metrics, slot_report
from training.export import export_bundle
from training.loop import (Batch, BatchFactory, DevMetrics, FitResult, LossFunction, fit, pick_device,
                           seed_everything, shuffled_buckets)
from training.models import (BiLSTMClassifier, BiLSTMTagger, ClassifierEnsemble, TaggerEnsemble, constrained_nll,
                             parameter_count)
from training.report import ReportInputs, build_report
from training.summary import read_data, unseen_in_train
from training.tokenizer import build_tokenizer, with_words
from training.vectors import PickedVectors, open_vectors, pick_vectors, start_embedding

IGNORE = -100  # cross-entropy target of padding positions


@dataclass(frozen=True)
class RunResult:
    out: Path
    metrics: dict[str, float]
    seconds: float
    parameters: int


def run(config: TrainConfig, log: Callable[[str], object] = print) -> RunResult:
    torch.set_num_threads(config.threads)
    return (run_classifier if config.task == "classifier" else run_tagger)(config, log)


def read_checked_data(config: TrainConfig, log: Callable[[str], object]) -> tuple[list, list]:
    """Train and dev data, with a warning for each dev label training never saw (training goes on:
    such labels only count as errors on dev)."""
    train, dev = read_data(config)
    for line in unseen_in_train(train, dev, config.dev):
        log(f"warning: {line}")
    return list(train), list(dev)


def fitted_tokenizer(
    texts: Sequence[str], config: TrainConfig, log: Callable[[str], object] = print
) -> tuple[Tokenizer, PickedVectors | None]:
    """The training vocabulary, extended by `--vectors-extra` words of `--vectors`, and the vectors picked."""
    tokenizer = build_tokenizer(texts, min_frequency=config.min_frequency)
    picked = None
    if config.vectors:
        source = open_vectors(config.vectors)
        dim = config.model.embed_dim
        if dim < source.dim or (dim > source.dim and config.freeze_vectors):
            raise DataError(source.path, None, f"vectors have dimension {source.dim} but --embed-dim is {dim} "
                                               "(leave --embed-dim out to follow the vectors, or give a larger one "
                                               "without --freeze-vectors: the vectors fill its first columns)")
        picked = pick_vectors(source, tokenizer, config.vectors_extra)
        tokenizer = with_words(tokenizer, [word for word, _ in picked.extra])
        log(f"vectors {source.label}: {len(picked.known):,} of {picked.training_words:,} training words covered "
            f"({len(picked.known) / max(picked.training_words, 1):.1%}), {len(picked.extra):,} words added")
    tokenizer.no_padding()
    tokenizer.enable_truncation(config.max_seq_len)
    return tokenizer, picked


def with_vectors(
    model: nn.Module, tokenizer: Tokenizer, picked: PickedVectors | None, config: TrainConfig
) -> nn.Module:
    if picked is not None:
        start_embedding(model.embed, tokenizer, picked, config.freeze_vectors)
    return model


def eager_runner(model: nn.Module, tokenizer: Tokenizer, labels: Labels, config: TrainConfig,
                 device: torch.device) -> BundleRunner:
    """The model being trained, decoded exactly as its exported bundle will be."""
    word_chars = config.max_word_chars if labels.slot_tags is not None else None
    return BundleRunner(tokenizer, model, labels, word_chars, device)


def drop_words(ids: Tensor, probability: float, generator: torch.Generator) -> Tensor:
    """Word dropout: replace real tokens by [UNK] at random, so the model learns to use context and
    character features for words it has never seen."""
    if probability <= 0:
        return ids
    drop = (torch.rand(ids.shape, generator=generator) < probability) & (ids != PAD_ID)
    return ids.masked_fill(drop, UNK_ID)


def label_index(labels: Sequence[str]) -> dict[str, int]:
    return {label: index for index, label in enumerate(labels)}


def class_order(seen: set[str], label_names: dict[str, str] | None) -> list[str]:
    """Classes in output order: the order of `--label-names` when given, else sorted."""
    if label_names is None:
        return sorted(seen)
    return [name for name in dict.fromkeys(label_names.values()) if name in seen]


# --- tagger ------------------------------------------------------------------------------------------


def run_tagger(config: TrainConfig, log: Callable[[str], object] = print) -> RunResult:
    started = time.perf_counter()
    train, dev = read_checked_data(config, log)
    log(f"tagger: {len(train)} train / {len(dev)} dev sentences")
    seed_everything(config.seed)
    tokenizer, picked = fitted_tokenizer([s.text for s in train], config, log)
    encoded = encode_texts(tokenizer, [s.text for s in train])
    train_tags = [s.token_tags(e.offsets) for s, e in zip(train, encoded)]
    slot_tags = ["O"] + sorted({t for tags in train_tags for t in tags} - {"O"})
    intents = sorted({s.intent for s in train})
    labels = Labels(intents=intents, slot_tags=slot_tags)
    m = config.model

    def new_model() -> nn.Module:
        tagger = BiLSTMTagger(tokenizer.get_vocab_size(), slot_tags, len(intents), embed_dim=m.embed_dim,
                              byte_dim=m.byte_dim, char_filters=m.char_filters, hidden_size=m.hidden_size,
                              num_layers=m.num_layers, dropout=m.dropout)
        return with_vectors(tagger, tokenizer, picked, config)

    log(f"tagger: {len(slot_tags)} tags, {len(intents)} intents, vocabulary {tokenizer.get_vocab_size()}, "
        f"{parameter_count(new_model()):,} parameters per member, {config.members} member(s)")
    tag_ids, intent_ids = label_index(slot_tags), label_index(intents)
    targets = [[tag_ids[t] for t in tags] for tags in train_tags]
    texts = [s.text for s in train]
    device = pick_device(config.device)

    def batches(generator: torch.Generator) -> Iterator[Batch]:
        for chosen in shuffled_buckets([len(e.ids) for e in encoded], config.batch_size, generator):
            inputs = pad_batch([encoded[i] for i in chosen], [texts[i] for i in chosen], config.max_word_chars)
            tags = torch.full(inputs.ids.shape, IGNORE, dtype=torch.long)
            for row, i in enumerate(chosen):
                tags[row, : len(targets[i])] = torch.tensor(targets[i])
            intent = torch.tensor([intent_ids[train[i].intent] for i in chosen])
            assert inputs.chars is not None
            yield drop_words(inputs.ids, config.word_dropout, generator), inputs.chars, inputs.lengths, tags, intent

    def loss(model: nn.Module, batch: Batch) -> Tensor:
        ids, chars, lengths, tags, intent = batch
        tag_logits, intent_logits = model.scores(ids, chars, lengths)
        if config.sequence_loss:
            slot_loss = constrained_nll(tag_logits, tags, lengths, model.inside, model.begin)
        else:
            slot_loss = F.cross_entropy(tag_logits.flatten(0, 1).float(), tags.flatten(), ignore_index=IGNORE)
        return slot_loss + F.cross_entropy(intent_logits.float(), intent)

    def dev_metrics(model: nn.Module) -> dict[str, float]:
        runner = eager_runner(model, tokenizer, labels, config, device)
        return slot_metrics(dev, predict_slots(runner, dev))

    steps = -(-len(train) // config.batch_size)
    members = train_members(config, new_model, batches, steps, loss, dev_metrics, ("slot_f1", "intent_acc"),
                            device, log)
    model = members[0].model if len(members) == 1 else TaggerEnsemble([member.model for member in members])
    result = members[0].result
    predicted = predict_slots(eager_runner(model, tokenizer, labels, config, torch.device("cpu")), dev)
    metrics = slot_metrics(dev, predicted)
    unseen = sorted({t for s in dev for t in s.tags} - set(slot_tags)) + sorted({s.intent for s in dev} - set(intents))
    notes = [f"Dev labels never seen in training (always counted wrong): {', '.join(unseen) or 'none'}.",
             *member_notes(members)]
    report = ReportInputs(
        name=Path(config.out).name, kind="tagger", metrics=metrics, history=result.history,
        best_epoch=result.best_epoch, config=config.for_manifest(), parameters=parameter_count(model),
        train_examples=len(train), dev_examples=len(dev), gold_labels=[s.intent for s in dev],
        predicted_labels=predicted.intents, known_labels=intents, details=slot_report(dev, predicted), notes=notes,
    )
    return finish(model, tokenizer, "tagger", labels, config, metrics, [s.text for s in dev], report,
                  result.best_epoch, started, log, picked)


# --- classifier --------------------------------------------------------------------------------------


def run_classifier(config: TrainConfig, log: Callable[[str], object] = print) -> RunResult:
    started = time.perf_counter()
    train, dev = read_checked_data(config, log)
    classes = class_order({e.label for e in train}, config.label_names)
    if len(classes) < 2:
        raise DataError(config.train, None, f"needs at least two labels, found {classes}")
    log(f"classifier: {len(train)} train / {len(dev)} dev texts, classes {classes}")
    seed_everything(config.seed)
    tokenizer, picked = fitted_tokenizer([e.text for e in train], config, log)
    encoded = encode_texts(tokenizer, [e.text for e in train])
    labels = Labels(classes=classes)
    m = config.model

    def new_model() -> nn.Module:
        classifier = BiLSTMClassifier(tokenizer.get_vocab_size(), len(classes), embed_dim=m.embed_dim,
                                      hidden_size=m.hidden_size, num_layers=m.num_layers, dropout=m.dropout)
        return with_vectors(classifier, tokenizer, picked, config)

    log(f"classifier: vocabulary {tokenizer.get_vocab_size()}, {parameter_count(new_model()):,} parameters per "
        f"member, {config.members} member(s)")
    class_ids = label_index(classes)
    targets = [class_ids[e.label] for e in train]
    device = pick_device(config.device)

    def batches(generator: torch.Generator) -> Iterator[Batch]:
        for chosen in shuffled_buckets([len(e.ids) for e in encoded], config.batch_size, generator):
            inputs = pad_batch([encoded[i] for i in chosen])
            target = torch.tensor([targets[i] for i in chosen])
            yield drop_words(inputs.ids, config.word_dropout, generator), inputs.lengths, target

    def loss(model: nn.Module, batch: Batch) -> Tensor:
        ids, lengths, target = batch
        return F.cross_entropy(model.logits(ids, lengths).float(), target)

    def dev_metrics(model: nn.Module) -> dict[str, float]:
        runner = eager_runner(model, tokenizer, labels, config, device)
        return {"accuracy": accuracy([e.label for e in dev], predict_labels(runner, dev))}

    steps = -(-len(train) // config.batch_size)
    members = train_members(config, new_model, batches, steps, loss, dev_metrics, ("accuracy",), device, log)
    model = members[0].model if len(members) == 1 else ClassifierEnsemble([member.model for member in members])
    result = members[0].result
    predicted = predict_labels(eager_runner(model, tokenizer, labels, config, torch.device("cpu")), dev)
    metrics = {"accuracy": accuracy([e.label for e in dev], predicted)}
    counts = Counter(e.label for e in train)
    notes = ["Training label counts: " + ", ".join(f"{label}: {counts[label]:,}" for label in classes) + ".",
             *member_notes(members)]
    report = ReportInputs(
        name=Path(config.out).name, kind="classifier", metrics=metrics, history=result.history,
        best_epoch=result.best_epoch, config=config.for_manifest(), parameters=parameter_count(model),
        train_examples=len(train), dev_examples=len(dev), gold_labels=[e.label for e in dev],
        predicted_labels=predicted, known_labels=classes, notes=notes,
    )
    return finish(model, tokenizer, "classifier", labels, config, metrics, [e.text for e in dev], report,
                  result.best_epoch, started, log, picked)


@dataclass(frozen=True)
class Member:
    seed: int
    model: nn.Module
    result: FitResult


def train_members(
    config: TrainConfig, new_model: Callable[[], nn.Module], batches: BatchFactory, steps: int, loss: LossFunction,
    dev_metrics: DevMetrics, selection: Sequence[str], device: torch.device, log: Callable[[str], object],
) -> list[Member]:
    """Train `config.members` models alike but for the seed (seed, seed+1, ...), one after the other.

    Each member's seed fixes its initial weights, batch order and word dropout; nothing about a member
    is chosen on dev, so several members only average out the seed's luck."""
    members = []
    for index in range(config.members):
        seed = config.seed + index
        if config.members > 1:
            log(f"member {index + 1}/{config.members} (seed {seed})")
        seed_everything(seed)  # initial weights
        model = new_model()
        result = fit(model, batches, steps, loss, dev_metrics, selection, replace(config, seed=seed), device, log)
        model.load_state_dict(result.best_state)
        members.append(Member(seed, model.cpu().eval(), result))
    return members


def member_notes(members: Sequence[Member]) -> list[str]:
    if len(members) == 1:
        return []
    return ["", f"Ensemble of {len(members)} members (probabilities averaged); each member alone on dev:", ""] + [
        f"- seed {member.seed}: " + ", ".join(f"{name} {value:.2f}" for name, value in member.result.best_metrics.items())
        for member in members
    ] + ["", "The per-epoch table and the learning curves are those of the first member."]


def finish(
    model: nn.Module, tokenizer: Tokenizer, kind: ModelKind, labels: Labels, config: TrainConfig,
    metrics: dict[str, float], dev_texts: list[str], report: ReportInputs, best_epoch: int, started: float,
    log: Callable[[str], object], picked: PickedVectors | None,
) -> RunResult:
    """Export the bundle with its report; parity is checked on the whole dev set."""
    seconds = time.perf_counter() - started
    training = {**config.for_manifest(), "best_epoch": best_epoch, "epochs_run": len(report.history),
                "train_seconds": round(seconds, 1)}
    export_bundle(
        model, tokenizer, Path(config.out), kind=kind, labels=labels, max_seq_len=config.max_seq_len,
        max_word_chars=config.max_word_chars if kind == "tagger" else None, training_config=training,
        metrics={"dev": metrics}, parity_texts=dev_texts, extra_files=build_report(report),
        vectors=picked.info(config.freeze_vectors) if picked else None,
    )
    log(f"exported {config.out}: dev " + ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())
        + f" ({seconds:.0f}s)")
    return RunResult(Path(config.out), metrics, seconds, parameter_count(model))
