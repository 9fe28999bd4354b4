"""Choose a bundle's out-of-scope rule on dev data, and the figures that justify it.

A rule (`model.manifest.AbstentionRule`) abstains on a text whose calibrated top score is below a
threshold, or that is predicted as a label meaning out of scope (CLINC150's `oos`). The threshold is the
highest that still answers `answer_rate` of the in-scope dev texts, so it is set by in-scope data alone;
out-of-scope texts (another task's dev split, or the dev texts labelled `oos`) only measure what it
catches, and texts kept apart from every choice show how it holds on text nobody chose it for.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from model.manifest import AbstentionRule


@dataclass(frozen=True)
class Scored:
    """One text as the calibrated model answered it: what a rule reads, and whether the label was right."""

    label: str
    score: float  # calibrated top probability
    correct: bool = False  # in-scope texts only


def choose_rule(in_scope: Sequence[Scored], labels: Sequence[str] = (), answer_rate: float = 0.985) -> AbstentionRule:
    """The highest score threshold (down to 1e-4) that answers `answer_rate` of `in_scope`, on top of
    abstaining on `labels`; 0 when those labels alone already take the whole allowance."""
    base = AbstentionRule(labels=list(labels))
    answered = sorted(text.score for text in in_scope if not base.abstains(text.label, text.score))
    allowance = math.floor(len(in_scope) * (1 - answer_rate) + 1e-9) - (len(in_scope) - len(answered))
    threshold = 0.0 if allowance <= 0 else 1.0 if allowance >= len(answered) else answered[allowance]
    how = f"highest calibrated-score threshold that answers {answer_rate:.1%} of the in-scope dev texts"
    return base.model_copy(update={"min_score": math.floor(threshold * 1e4) / 1e4, "chosen_on": how})


def share_abstained(rule: AbstentionRule, texts: Sequence[Scored]) -> float:
    return sum(rule.abstains(text.label, text.score) for text in texts) / len(texts) if texts else 0.0


def rule_figures(rule: AbstentionRule, in_scope: Sequence[Scored], outside: Mapping[str, Sequence[Scored]]) -> dict[str, float]:
    """In %: in-scope texts answered; in-scope accuracy with abstained texts counted wrong (as Larson et al.
    2019 count them); the share of each out-of-scope set abstained on (`abstained_<name>`)."""
    right = sum(text.correct and not rule.abstains(text.label, text.score) for text in in_scope)
    figures = {
        "in_scope_answered": 100 * (1 - share_abstained(rule, in_scope)),
        "in_scope_accuracy": 100 * right / max(len(in_scope), 1),
        **{f"abstained_{name}": 100 * share_abstained(rule, texts) for name, texts in outside.items()},
    }
    return {key: round(value, 2) for key, value in figures.items()}
