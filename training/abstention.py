"""Choose a bundle's out-of-scope rule on dev data, and the figures that justify it.

A rule (`model.manifest.AbstentionRule`) abstains on a text when its calibrated top score is low, when
too many of its words are unknown to the vocabulary, or when it is predicted as a label that means out of
scope (CLINC150's `oos`). Thresholds are set from in-domain dev texts: the rule must still answer
`answer_rate` of them. Out-of-scope dev texts (another task's dev split, or a class like `oos`) are used
only to pick between the candidate rules and to report how many of them the rule catches; texts held out
from both (e.g. CLINC150's out-of-scope queries for a tagger) report how the rule holds on text nobody
chose it for.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from model.manifest import AbstentionRule


@dataclass(frozen=True)
class Scored:
    """One text as the calibrated model saw it: the abstention rule's inputs."""

    label: str
    score: float  # calibrated top probability
    unknown: float  # share of its tokens unknown to the vocabulary
    correct: bool = False  # the label is the gold one (in-domain texts only)


def answered_share(rule: AbstentionRule, texts: Sequence[Scored]) -> float:
    return sum(not abstains(rule, text) for text in texts) / max(len(texts), 1)


def abstains(rule: AbstentionRule, text: Scored) -> bool:
    return rule.abstains(text.label, text.score, text.unknown)


def score_threshold(rule: AbstentionRule, in_domain: Sequence[Scored], answer_rate: float) -> float | None:
    """The highest `min_score` that still answers `answer_rate` of `in_domain` under `rule`'s other
    conditions; None when those conditions alone already abstain on too many."""
    budget = int(len(in_domain) * (1 - answer_rate)) - sum(abstains(rule, text) for text in in_domain)
    if budget < 0:
        return None
    scores = sorted(text.score for text in in_domain if not abstains(rule, text))
    return 1.0 if budget >= len(scores) else scores[budget]


def candidate_rules(in_domain: Sequence[Scored], labels: Sequence[str], answer_rate: float,
                    use_unknown: bool) -> list[AbstentionRule]:
    """A score threshold alone, and (with `use_unknown`) paired with each cap on the unknown-word share
    that in-domain texts leave room for: each threshold as high as the answer rate allows."""
    caps: list[float | None] = [None]
    if use_unknown:
        caps += sorted({round(text.unknown, 4) for text in in_domain if text.unknown > 0})
    rules = []
    for cap in caps:
        base = AbstentionRule(labels=list(labels), max_unknown_share=cap)
        threshold = score_threshold(base, in_domain, answer_rate)
        if threshold is not None:
            rules.append(base.model_copy(update={"min_score": round(threshold, 4)}))
    return rules


def choose_rule(
    in_domain: Sequence[Scored],
    outside: Sequence[Scored],
    labels: Sequence[str] = (),
    answer_rate: float = 0.985,
    use_unknown: bool = True,
) -> AbstentionRule:
    """The candidate that abstains on most of `outside` while answering `answer_rate` of `in_domain`
    (ties: the simpler rule, then the lower threshold); `outside` may be empty (then: a threshold alone)."""
    candidates = candidate_rules(in_domain, labels, answer_rate, use_unknown and bool(outside))
    best = max(candidates, key=lambda rule: (share_abstained(rule, outside), rule.max_unknown_share is None,
                                             -(rule.min_score or 0)))
    how = (f"highest calibrated-score threshold answering {answer_rate:.1%} of in-domain dev texts"
           + (", unknown-word cap picked on out-of-scope dev texts" if best.max_unknown_share is not None else ""))
    return best.model_copy(update={"chosen_on": how})


def share_abstained(rule: AbstentionRule, texts: Sequence[Scored]) -> float:
    return sum(abstains(rule, text) for text in texts) / len(texts) if texts else 0.0


def rule_figures(rule: AbstentionRule, in_domain: Sequence[Scored], outside: dict[str, Sequence[Scored]]) -> dict[str, float]:
    """In %: in-domain texts answered, in-domain accuracy with abstained texts counted wrong (as in
    Larson et al. 2019), and the share abstained of each out-of-scope set."""
    figures = {
        "in_domain_answered": 100 * answered_share(rule, in_domain),
        "in_domain_accuracy": 100 * sum(t.correct and not abstains(rule, t) for t in in_domain) / max(len(in_domain), 1),
    }
    for name, texts in outside.items():
        figures[f"abstained_{name}"] = 100 * share_abstained(rule, texts)
    return {key: round(value, 2) for key, value in figures.items()}
