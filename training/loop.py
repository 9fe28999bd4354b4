"""fit(): one straight-line epoch loop shared by both tasks.

AdamW with linear warm-up and decay, gradient clipping, mixed precision on CUDA, dev metrics watched
after every epoch, and a fixed seed so two runs with the same config on the same machine give the same
model. The task supplies three callables: batches, a loss, and the dev metrics.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm import tqdm

from training.config import TrainConfig

Batch = tuple[Tensor, ...]
BatchFactory = Callable[[torch.Generator], Iterable[Batch]]
LossFunction = Callable[[nn.Module, Batch], Tensor]
DevMetrics = Callable[[nn.Module], dict[str, float]]


@dataclass
class FitResult:
    """Dev metrics after the last epoch (the trained model is the one `fit` was given) and one history
    row per epoch for the report."""

    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0


def seed_everything(seed: int) -> torch.Generator:
    """Seed every generator training touches; the returned one drives shuffling and word dropout."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def linear_schedule(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    """Learning-rate factor: 0 → 1 over the warm-up, then straight down to 0 at the last step."""

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))

    return factor


def fit(
    model: nn.Module,
    batches: BatchFactory,
    steps_per_epoch: int,
    loss_fn: LossFunction,
    dev_metrics: DevMetrics,
    config: TrainConfig,
    device: torch.device,
    log: Callable[[str], Any] = print,
) -> FitResult:
    """Train `model` in place for `config.epochs` epochs; the exported state is the one after the last.

    Dev is measured after every epoch but never chooses anything: picking the epoch on dev would make
    the dev figure optimistic, and the schedule decays to zero, so the last state is the settled one."""
    generator = seed_everything(config.seed)
    model.to(device)
    use_amp = config.amp and device.type == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = steps_per_epoch * config.epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, linear_schedule(int(config.warmup * total), total))
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history: list[dict[str, float]] = []
    metrics: dict[str, float] = {}
    started = time.perf_counter()
    for epoch in range(1, config.epochs + 1):
        model.train()
        progress = tqdm(batches(generator), total=steps_per_epoch, desc=f"epoch {epoch}", leave=False,
                        disable=None, mininterval=1.0)  # no bar when stderr is not a terminal
        loss_sum, count = 0.0, 0
        for batch in progress:
            batch = tuple(tensor.to(device, non_blocking=True) for tensor in batch)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                loss = loss_fn(model, batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            loss_sum, count = loss_sum + loss.item(), count + 1
            progress.set_postfix(loss=f"{loss_sum / count:.4f}")
        model.eval()
        metrics = dev_metrics(model)
        row = {"epoch": epoch, "train_loss": loss_sum / max(count, 1), **metrics,
               "seconds": time.perf_counter() - started}
        history.append(row)
        log(f"epoch {epoch:2d}  loss {row['train_loss']:.4f}  "
            + "  ".join(f"{name} {value:.2f}" for name, value in metrics.items())
            + f"  {row['seconds']:.0f}s" + ("  *" if epoch == config.epochs else ""))
    return FitResult(metrics, history, time.perf_counter() - started)


def shuffled_buckets(lengths: list[int], batch_size: int, generator: torch.Generator,
                     pool: int = 50) -> Iterator[list[int]]:
    """Batches of example indices with similar lengths (less padding), in random order.

    Shuffle, cut into pools of `pool` batches, sort each pool by length, batch it, shuffle the batches.
    """
    order = torch.randperm(len(lengths), generator=generator).tolist()
    chunks: list[list[int]] = []
    for start in range(0, len(order), batch_size * pool):
        block = sorted(order[start : start + batch_size * pool], key=lengths.__getitem__)
        chunks.extend(block[i : i + batch_size] for i in range(0, len(block), batch_size))
    for index in torch.randperm(len(chunks), generator=generator).tolist():
        yield chunks[index]
