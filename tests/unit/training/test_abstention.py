"""Abstention rules: chosen on in-scope dev texts alone, measured on out-of-scope ones, applied by the runner."""

from __future__ import annotations

import pytest

from model.manifest import AbstentionRule
from training.abstention import Scored, choose_rule, rule_figures


def in_scope(count: int = 200) -> list[Scored]:
    """Scores 0.005 … 1.0, the lowest ones wrong."""
    return [Scored("flight", (i + 1) / count, correct=i >= 10) for i in range(count)]


@pytest.mark.parametrize("rate", [0.9, 0.985, 0.99, 1.0])
def test_threshold_is_the_highest_that_answers_the_rate(rate: float) -> None:
    texts = in_scope()
    rule = choose_rule(texts, answer_rate=rate)
    answered = sum(not rule.abstains(t.label, t.score) for t in texts) / len(texts)
    assert answered >= rate
    assert answered - rate < 1 / len(texts) + 1e-9  # one text more would fall below the rate
    assert rule.labels == [] and "98.5%" in choose_rule(texts).chosen_on


def test_out_of_scope_labels_spend_the_allowance_first() -> None:
    texts = in_scope()[:190] + [Scored("oos", 0.99)] * 10  # 10 in-scope texts predicted as oos: 5 %
    rule = choose_rule(texts, labels=["oos"], answer_rate=0.95)
    assert rule.min_score == 0.0 and rule.abstains("oos", 0.99) and not rule.abstains("flight", 0.01)
    assert choose_rule(texts, labels=["oos"], answer_rate=0.9).min_score == pytest.approx(0.055)  # 10 more


def test_figures_count_abstained_in_scope_texts_wrong() -> None:
    rule = AbstentionRule(min_score=0.5, labels=["oos"])
    texts = [Scored("a", 0.9, True), Scored("a", 0.4, True), Scored("b", 0.8, False), Scored("oos", 0.9, False)]
    outside = {"snips/dev": [Scored("a", 0.3), Scored("oos", 0.99), Scored("a", 0.7), Scored("b", 0.2)]}
    assert rule_figures(rule, texts, outside) == {
        "in_scope_answered": 50.0, "in_scope_accuracy": 25.0, "abstained_snips/dev": 75.0}
