"""The loop's pieces: schedule, length buckets, and the last epoch as the result."""

from __future__ import annotations

import torch
from torch import nn

from training.config import TrainConfig
from training.loop import fit, linear_schedule, shuffled_buckets


def test_linear_schedule_warms_up_then_decays_to_zero() -> None:
    factor = linear_schedule(warmup_steps=2, total_steps=6)
    assert [factor(step) for step in range(7)] == [0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]


def test_buckets_cover_every_example_once_with_similar_lengths() -> None:
    lengths = [5, 1, 9, 3, 7, 2, 8, 4, 6, 10]
    batches = list(shuffled_buckets(lengths, batch_size=2, generator=torch.Generator().manual_seed(0), pool=5))
    assert sorted(i for batch in batches for i in batch) == list(range(10))
    assert all(abs(lengths[a] - lengths[b]) == 1 for a, b in batches)


def test_fit_keeps_the_last_epoch_and_only_watches_dev() -> None:
    model = nn.Linear(1, 1)
    scores = iter([{"acc": 90.0}, {"acc": 99.0}, {"acc": 80.0}, {"acc": 70.0}])
    seen: list[dict[str, torch.Tensor]] = []  # the weights dev saw after each epoch

    def dev_metrics(trained: nn.Module) -> dict[str, float]:
        seen.append({k: v.clone() for k, v in trained.state_dict().items()})
        return next(scores)

    config = TrainConfig(task="sentiment", train="", dev="", out="", epochs=4, warmup=0.0)
    batches = lambda generator: [(torch.ones(4, 1), torch.zeros(4, 1))]  # noqa: E731
    loss = lambda model, batch: ((model(batch[0]) - batch[1]) ** 2).mean()  # noqa: E731
    result = fit(model, batches, 1, loss, dev_metrics, config, torch.device("cpu"), print)
    assert result.metrics == {"acc": 70.0}  # the last epoch's, not the best one's (99)
    assert [row["acc"] for row in result.history] == [90.0, 99.0, 80.0, 70.0]
    assert all(torch.equal(seen[-1][k], v) for k, v in model.state_dict().items())  # no earlier state restored
    assert not all(torch.equal(seen[1][k], v) for k, v in model.state_dict().items())
