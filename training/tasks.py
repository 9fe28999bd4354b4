"""run(config): read data → tokenizer → members → dev metrics → calibration and abstention → report →
export, for either task.

The steps are the same for a classifier and a tagger; what differs is one `training.kinds.TaskKind`.
Dev metrics during training go through a `BundleRunner` around the eager model, i.e. the same
tokenisation, padding and decoding code that the exported bundle runs, so the per-epoch figures and the
exported bundle's figures agree.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tokenizers import Tokenizer
from torch import Tensor, nn

from model.manifest import PAD_ID, UNK_ID, Labels
from model.runtime import Prediction
from model.text import EncodedText, encode_texts, pad_batch
from training.config import TrainConfig
from training.examples import DataError, Examples
from training.export import export_bundle
from training.inference import eager_runner, predict_all
from training.kinds import TASKS, Targets, TaskKind
from training.loop import Batch, BatchFactory, FitResult, fit, pick_device, seed_everything, shuffled_buckets
from training.models import parameter_count
from training.outliers import draw, read_all
from training.report import ReportInputs, build_report
from training.scope import Scope, fit_scope
from training.summary import read_data, unseen_in_train
from training.tokenizer import build_tokenizer, with_words
from training.vectors import PickedVectors, open_vectors, pick_vectors, start_embedding


@dataclass(frozen=True)
class RunResult:
    out: Path
    metrics: dict[str, float]
    seconds: float
    parameters: int


@dataclass(frozen=True)
class Setup:
    """A task's data read, tokenised and labelled: everything training and export start from."""

    config: TrainConfig
    task: TaskKind
    train: Examples
    dev: Examples
    tokenizer: Tokenizer
    picked: PickedVectors | None
    labels: Labels
    batches: BatchFactory
    epoch_size: int  # examples per epoch: the training examples and the outliers drawn for it
    new_model: Callable[[], nn.Module]
    max_word_chars: int | None  # bytes per word the model reads (`TaskKind.word_chars`)

    def runner_metrics(self, model: nn.Module, device: torch.device) -> tuple[dict[str, float], list[Prediction]]:
        """(dev metrics, dev predictions) of `model`, answered through the runner the bundle will use."""
        runner = eager_runner(self.tokenizer, model, self.labels, self.max_word_chars, device)
        predictions = predict_all(runner, [e.text for e in self.dev])
        return self.task.metrics(self.dev, predictions), predictions


@dataclass(frozen=True)
class Trained:
    """A trained model (one member or their ensemble) and what its bundle and report are made from."""

    setup: Setup
    model: nn.Module
    metrics: dict[str, float]
    scope: Scope
    report: ReportInputs
    started: float  # perf_counter at the start of the run


def run(config: TrainConfig, log: Callable[[str], object] = print) -> RunResult:
    """Train the task of `config` (its members one after the other) and export the bundle to `config.out`."""
    torch.set_num_threads(config.threads)
    started = time.perf_counter()
    setup = set_up(config, log)
    device = pick_device(config.device)
    members = train_members(setup, device, log)
    model = members[0].model if len(members) == 1 else setup.task.ensemble([member.model for member in members])
    metrics, predictions = setup.runner_metrics(model, torch.device("cpu"))
    part = setup.task.report(setup.train, setup.dev, setup.labels, predictions)
    runner = eager_runner(setup.tokenizer, model, setup.labels, setup.max_word_chars, torch.device("cpu"))
    scope = fit_scope(config, runner, setup.dev, part.known)
    history = members[0].result.history
    report = ReportInputs(
        name=Path(config.out).name, kind=setup.task.kind, metrics=metrics, history=history,
        config=config.for_manifest(), parameters=parameter_count(model), train_examples=len(setup.train),
        dev_examples=len(setup.dev), gold_labels=part.gold, predicted_labels=part.predicted, known_labels=part.known,
        details=part.details, notes=[part.note, *member_notes(members)], scope=scope,
    )
    return finish(Trained(setup, model, metrics, scope, report, started), log)


def set_up(config: TrainConfig, log: Callable[[str], object]) -> Setup:
    """Read and check the data, fit the tokenizer (and vectors), read labels and targets: the log says each."""
    task = TASKS[config.task]
    train, dev = read_checked_data(config, log)
    log(f"{task.kind}: {len(train)} train / {len(dev)} dev {task.unit}{task.headline(config, train)}")
    seed_everything(config.seed)
    texts = [e.text for e in train]
    tokenizer, picked = fitted_tokenizer(texts, config, log)
    encoded = encode_texts(tokenizer, texts)  # training texts cut at --max-seq-len
    tokenizer.no_truncation()  # everything else (outliers, dev, the bundle) is read whole, as it is served
    prepared = task.prepare(config, train, encoded)
    max_word_chars = task.word_chars(config.max_word_chars)

    def new_model() -> nn.Module:
        return with_vectors(task.new_model(tokenizer.get_vocab_size(), prepared.labels, config.model), tokenizer,
                            picked, config)

    log(f"{task.kind}: {prepared.summary}vocabulary {tokenizer.get_vocab_size()}, "
        f"{parameter_count(new_model()):,} parameters per member, {config.members} member(s)")
    outliers = read_all(config.outliers, config.within_scope)
    drawn = min(int(config.outlier_share * len(train)), len(outliers))
    if outliers:
        log(f"outliers: {len(outliers):,} texts from outside the task's scope, {drawn:,} drawn each epoch")
    batches = training_batches(config, texts, encoded, prepared.targets, max_word_chars,
                               Outliers(outliers, encode_texts(tokenizer, outliers), drawn))
    return Setup(config, task, train, dev, tokenizer, picked, prepared.labels, batches, len(train) + drawn,
                 new_model, max_word_chars)


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


def drop_words(ids: Tensor, probability: float, generator: torch.Generator) -> Tensor:
    """Word dropout: replace real tokens by [UNK] at random, so the model learns to use context and
    character features for words it has never seen."""
    if probability <= 0:
        return ids
    drop = (torch.rand(ids.shape, generator=generator) < probability) & (ids != PAD_ID)
    return ids.masked_fill(drop, UNK_ID)


@dataclass(frozen=True)
class Outliers:
    """Texts from outside the task's scope (training.outliers), `drawn` of them mixed into each epoch."""

    texts: Sequence[str] = ()
    encoded: Sequence[EncodedText] = ()
    drawn: int = 0


def training_batches(
    config: TrainConfig, texts: Sequence[str], encoded: Sequence[EncodedText], targets: Targets,
    max_word_chars: int | None, outliers: Outliers = Outliers(),
) -> BatchFactory:
    """Batches of similar lengths in a new random order each epoch, as (ids after word dropout, [word bytes,]
    lengths, *the task's targets); each epoch draws its outliers afresh and buckets them with the examples."""
    count = len(texts)

    def batches(generator: torch.Generator) -> Iterator[Batch]:
        extra = draw(outliers.drawn, len(outliers.texts), generator) if outliers.drawn else []
        pool_texts = [*texts, *(outliers.texts[i] for i in extra)]
        pool = [*encoded, *(outliers.encoded[i] for i in extra)]
        for chosen in shuffled_buckets([len(e.ids) for e in pool], config.batch_size, generator):
            inputs = pad_batch([pool[i] for i in chosen], [pool_texts[i] for i in chosen], max_word_chars)
            chars = () if inputs.chars is None else (inputs.chars,)
            ids = drop_words(inputs.ids, config.word_dropout, generator)
            yield ids, *chars, inputs.lengths, *targets([i if i < count else None for i in chosen], inputs.ids)

    return batches


@dataclass(frozen=True)
class Member:
    seed: int
    model: nn.Module
    result: FitResult


def train_members(setup: Setup, device: torch.device, log: Callable[[str], object]) -> list[Member]:
    """Train `config.members` models alike but for the seed (seed, seed+1, ...), one after the other.

    Each member's seed fixes its initial weights, batch order and word dropout; nothing about a member
    is chosen on dev, so several members only average out the seed's luck."""
    config = setup.config
    steps = -(-setup.epoch_size // config.batch_size)

    def loss(model: nn.Module, batch: Batch) -> Tensor:
        return setup.task.loss(model, batch, config.outlier_weight)

    def dev_metrics(model: nn.Module) -> dict[str, float]:
        return setup.runner_metrics(model, device)[0]

    members = []
    for index in range(config.members):
        seed = config.seed + index
        if config.members > 1:
            log(f"member {index + 1}/{config.members} (seed {seed})")
        seed_everything(seed)  # initial weights
        model = setup.new_model()
        result = fit(model, setup.batches, steps, loss, dev_metrics, replace(config, seed=seed), device, log)
        members.append(Member(seed, model.cpu().eval(), result))
    return members


def member_notes(members: Sequence[Member]) -> list[str]:
    if len(members) == 1:
        return []
    return ["", f"Ensemble of {len(members)} members (probabilities averaged); each member alone on dev:", ""] + [
        f"- seed {member.seed}: " + ", ".join(f"{name} {value:.2f}" for name, value in member.result.metrics.items())
        for member in members
    ] + ["", "The per-epoch table and the learning curves are those of the first member."]


def finish(trained: Trained, log: Callable[[str], object]) -> RunResult:
    """Export the bundle with its report; parity is checked on the whole dev set."""
    setup, config = trained.setup, trained.setup.config
    seconds = time.perf_counter() - trained.started
    training = {**config.for_manifest(), "epochs_run": len(trained.report.history), "train_seconds": round(seconds, 1)}
    export_bundle(
        trained.model, setup.tokenizer, Path(config.out), kind=setup.task.kind, labels=setup.labels,
        max_seq_len=config.max_seq_len, max_word_chars=setup.max_word_chars, training_config=training,
        metrics={"dev": trained.metrics}, parity_texts=[e.text for e in setup.dev],
        extra_files=build_report(trained.report),
        vectors=setup.picked.info(config.freeze_vectors) if setup.picked else None,
        calibration=trained.scope.calibration, abstention=trained.scope.abstention,
    )
    log(f"exported {config.out}: dev " + ", ".join(f"{k} {v:.2f}" for k, v in trained.metrics.items())
        + f" ({seconds:.0f}s)")
    return RunResult(Path(config.out), trained.metrics, seconds, parameter_count(trained.model))
