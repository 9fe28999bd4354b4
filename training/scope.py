"""After training: calibrate the sentence-level scores on dev, then decide when the bundle abstains.

Both are fitted on the eager model through the runner the bundle will use, written into its manifest
(`calibration`, `abstention`), and served from there: the service, `evaluate` and `predict` apply them
the same way. The dev split's in-scope texts set the temperature and the threshold; out-of-scope texts
(dev texts with a label like `oos`, and the `--out-of-scope` data) are only measured, never chosen on.
`evaluate` measures an exported bundle with the same functions.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

import torch
from torch import Tensor

from model.manifest import AbstentionRule, Calibration
from model.runtime import BundleRunner, calibrated
from model.text import encode_texts, pad_batch
from training.abstention import Scored, choose_rule, rule_figures
from training.calibration import Reliability, calibration_figures, fit_temperature, reliability
from training.config import TrainConfig
from training.examples import Examples
from training.inference import BATCH_SIZE
from training.outliers import read_texts


@dataclass(frozen=True)
class Scope:
    """What the manifest and the report say of the bundle's confidence."""

    calibration: Calibration
    abstention: AbstentionRule | None
    before: list[Reliability]  # the dev reliability diagram, raw
    after: list[Reliability]  # and calibrated


@dataclass(frozen=True)
class Graded:
    """Labelled texts as the model's sentence-level head answered them, before any temperature."""

    raw: Tensor  # [N, C] probabilities
    gold: Tensor  # [N] label indices; -1 for a label the model does not have
    names: list[str]  # the gold labels as written

    @classmethod
    def of(cls, runner: BundleRunner, examples: Examples, labels: Sequence[str]) -> Graded:
        index = {label: position for position, label in enumerate(labels)}
        names = [example.labels()[0][1] for example in examples]  # the class, or a tagger's intent
        gold = torch.tensor([index.get(name, -1) for name in names])
        return cls(head_probabilities(runner, [example.text for example in examples]), gold, names)


def head_probabilities(runner: BundleRunner, texts: Sequence[str]) -> Tensor:
    """The sentence-level head's probabilities [N, C] as the module gives them (no temperature)."""
    rows = []
    with torch.inference_mode():
        for start in range(0, len(texts), BATCH_SIZE):
            chunk = texts[start : start + BATCH_SIZE]
            inputs = pad_batch(encode_texts(runner.tokenizer, chunk), chunk, runner.max_word_chars)
            ids, chars = runner.on_device(inputs)
            module = runner.module
            rows.append(module(ids, inputs.lengths) if chars is None else module(ids, chars, inputs.lengths)[0])
    return torch.cat(rows).float().cpu()


def scored(probs: Tensor, labels: Sequence[str], gold: Tensor | None = None) -> list[Scored]:
    score, index = probs.max(dim=1)
    right = (index == gold).tolist() if gold is not None else [False] * len(index)
    return [Scored(labels[i], s, r) for i, s, r in zip(index.tolist(), score.tolist(), right)]


def calibration_of(graded: Graded, temperature: float, fitted_on: str) -> Calibration:
    return Calibration(temperature=temperature, fitted_on=fitted_on, before=calibration_figures(graded.raw, graded.gold),
                       after=calibration_figures(calibrated(graded.raw, temperature), graded.gold))


def measure_rule(
    rule: AbstentionRule, runner: BundleRunner, graded: Graded, labels: Sequence[str], temperature: float,
    out_of_scope: Sequence[str], within_scope: Collection[str],
) -> dict[str, float]:
    """`rule_figures` on the labelled texts (those labelled with one of `rule.labels` are out of scope) and on
    each out-of-scope data file (less its texts labelled `within_scope`)."""
    texts = scored(calibrated(graded.raw, temperature), labels, graded.gold)
    in_scope = [text for text, name in zip(texts, graded.names) if name not in rule.labels]
    outside = {f"dev_{label}": [text for text, name in zip(texts, graded.names) if name == label]
               for label in rule.labels}
    for path in out_of_scope:
        probs = head_probabilities(runner, read_texts(Path(path), within_scope))
        outside[short(path)] = scored(calibrated(probs, temperature), labels)
    return rule_figures(rule, in_scope, outside)


def fit_scope(config: TrainConfig, runner: BundleRunner, dev: Examples, labels: Sequence[str]) -> Scope:
    """Temperature by dev NLL; then, unless `config.abstain` is off, the rule and its figures."""
    graded = Graded.of(runner, dev, labels)
    temperature = fit_temperature(graded.raw, graded.gold)
    right = (graded.raw.argmax(dim=1) == graded.gold).tolist()  # calibration never changes a label
    confidence = calibrated(graded.raw, temperature).max(dim=1).values.tolist()
    scope = Scope(calibration_of(graded, temperature, short(config.dev)), None,
                  reliability(graded.raw.max(dim=1).values.tolist(), right), reliability(confidence, right))
    if not config.abstain:
        return scope
    in_scope = [text for text, name in zip(scored(calibrated(graded.raw, temperature), labels, graded.gold),
                                           graded.names) if name not in config.out_of_scope_labels]
    rule = choose_rule(in_scope, config.out_of_scope_labels, config.answer_rate)
    figures = measure_rule(rule, runner, graded, labels, temperature, config.out_of_scope, config.within_scope)
    return Scope(scope.calibration, rule.model_copy(update={"dev": figures}), scope.before, scope.after)


def short(path: str) -> str:
    """A data path by its last two parts (`snips/dev`), as the manifest records paths."""
    return "/".join(PurePath(path).parts[-2:])
