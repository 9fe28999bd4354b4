"""Calibration of the sentence-level head: fit a temperature on dev, and the figures that judge it.

Guo et al. 2017 ("On Calibration of Modern Neural Networks"): networks trained with cross-entropy are
over-confident, and one temperature fitted by NLL on held-out data fixes most of it without changing
any label. The model exports probabilities, so the temperature divides their logarithm
(`model.runtime.calibrated`), which is the logits' scaling up to a constant per row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from model.runtime import calibrated

BINS = 15  # equal-width confidence bins, as in Guo et al.
LOG_T_RANGE = (-3.0, 3.0)  # temperatures from 0.05 to 20


@dataclass(frozen=True)
class Reliability:
    """One confidence bin: [low, high), how many predictions fell in it, their accuracy and mean confidence."""

    low: float
    high: float
    count: int
    accuracy: float
    confidence: float


def nll(probs: Tensor, gold: Tensor) -> float:
    """Mean negative log-likelihood of the gold labels, over the rows whose gold label the model has
    (gold -1: a dev label unseen in training, whose probability is 0 by construction)."""
    known = gold >= 0
    return float(-torch.log(probs[known].gather(1, gold[known][:, None]).clamp_min(1e-12)).mean())


def fit_temperature(probs: Tensor, gold: Tensor) -> float:
    """The temperature with the least NLL: golden-section search on log T (NLL is unimodal in it)."""
    low, high = LOG_T_RANGE
    ratio = (math.sqrt(5) - 1) / 2

    def loss(log_t: float) -> float:
        return nll(calibrated(probs, math.exp(log_t)), gold)

    a, b = high - ratio * (high - low), low + ratio * (high - low)
    loss_a, loss_b = loss(a), loss(b)
    for _ in range(60):
        if loss_a < loss_b:
            high, b, loss_b = b, a, loss_a
            a = high - ratio * (high - low)
            loss_a = loss(a)
        else:
            low, a, loss_a = a, b, loss_b
            b = low + ratio * (high - low)
            loss_b = loss(b)
    return round(math.exp((low + high) / 2), 4)


def reliability(confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> list[Reliability]:
    """Predictions grouped by confidence into `bins` equal-width bins (empty bins left out)."""
    groups: list[list[tuple[float, bool]]] = [[] for _ in range(bins)]
    for score, right in zip(confidence, correct, strict=True):
        groups[min(int(score * bins), bins - 1)].append((score, right))
    return [
        Reliability(index / bins, (index + 1) / bins, len(group), sum(r for _, r in group) / len(group),
                    sum(s for s, _ in group) / len(group))
        for index, group in enumerate(groups) if group
    ]


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = BINS) -> float:
    """ECE in %: the count-weighted mean gap between accuracy and confidence over the bins."""
    total = len(confidence)
    return 100 * sum(b.count * abs(b.accuracy - b.confidence) for b in reliability(confidence, correct, bins)) / total


def calibration_figures(probs: Tensor, gold: Tensor) -> dict[str, float]:
    """ECE (%, 15 bins), NLL and Brier score of `probs` [N, C] against `gold` [N] (indices into C).

    Gold indices of -1 (a dev label the model does not have) count as wrong in ECE and are left out of
    NLL and Brier, which need the label's probability.
    """
    confidence, predicted = probs.max(dim=1)
    correct = (predicted == gold).tolist()
    kept, kept_gold = probs[gold >= 0], gold[gold >= 0]
    one_hot = torch.nn.functional.one_hot(kept_gold, probs.shape[1]).to(probs.dtype)
    return {
        "ece": round(expected_calibration_error(confidence.tolist(), correct), 3),
        "nll": round(nll(probs, gold), 4),
        "brier": round(float(((kept - one_hot) ** 2).sum(dim=1).mean()), 4),
    }
