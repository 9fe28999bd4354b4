"""Temperature scaling and its figures: the fit finds the temperature, calibration never changes a label."""

from __future__ import annotations

import pytest
import torch

from model.runtime import calibrated
from training.calibration import calibration_figures, expected_calibration_error, fit_temperature, nll, reliability


def overconfident(temperature: float, rows: int = 4000, classes: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilities `temperature` times too sharp: labels are drawn from softmax(z), the model says softmax(z * T)."""
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(rows, classes, generator=generator) * 2
    gold = torch.multinomial(torch.softmax(logits, dim=1), 1, generator=generator).squeeze(1)
    return torch.softmax(logits * temperature, dim=1), gold


def test_the_fitted_temperature_undoes_overconfidence() -> None:
    probs, gold = overconfident(2.5, rows=20_000)
    temperature = fit_temperature(probs, gold)
    assert temperature == pytest.approx(2.5, rel=0.08)
    assert nll(calibrated(probs, temperature), gold) < nll(probs, gold)
    before, after = calibration_figures(probs, gold), calibration_figures(calibrated(probs, temperature), gold)
    assert after["ece"] < 2.0 < before["ece"] and after["brier"] < before["brier"]


def test_a_calibrated_model_keeps_a_temperature_near_one() -> None:
    probs, gold = overconfident(1.0)
    assert fit_temperature(probs, gold) == pytest.approx(1.0, abs=0.08)


def test_calibration_never_changes_the_top_label() -> None:
    probs, _ = overconfident(3.0, rows=500)
    for temperature in (0.3, 1.7, 8.0):
        assert torch.equal(calibrated(probs, temperature).argmax(dim=1), probs.argmax(dim=1))
        assert calibrated(probs, temperature).sum(dim=1) == pytest.approx(torch.ones(500), abs=1e-5)


def test_ece_uses_fifteen_equal_bins_weighted_by_count() -> None:
    confidence = [0.95] * 10 + [0.55] * 10  # two bins: 90 % right at 0.95, 50 % right at 0.55
    correct = [True] * 9 + [False] + [True] * 5 + [False] * 5
    bins = reliability(confidence, correct)
    assert [(b.low, b.count) for b in bins] == [(8 / 15, 10), (14 / 15, 10)]
    assert expected_calibration_error(confidence, correct) == pytest.approx(100 * (0.05 + 0.05) / 2)


def test_gold_labels_the_model_lacks_count_wrong_but_stay_out_of_nll_and_brier() -> None:
    probs = torch.tensor([[0.9, 0.1], [0.8, 0.2]])
    figures = calibration_figures(probs, torch.tensor([0, -1]))
    assert figures["nll"] == pytest.approx(-torch.log(torch.tensor(0.9)).item(), abs=1e-4)
    assert figures["brier"] == pytest.approx(0.02, abs=1e-4)  # (0.1² + 0.1²) for the known row only
    assert figures["ece"] == pytest.approx(100 * (0.1 + 0.8) / 2)  # bins of 0.9 (right) and 0.8 (counted wrong)
