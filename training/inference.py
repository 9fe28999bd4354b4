"""Training's only doors into `model.runtime`: a runner around an eager model, a loaded bundle, batched predict.

Dev metrics during training, export's parity check, `evaluate` and `predict` all answer through a
`BundleRunner`, so every figure training prints comes from the tokenisation, padding and decoding code the
service runs. Building and loading runners happens here and nowhere else in training, so a change to the
runner's constructor or to `load_bundle` is a change to this module only.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch
from tokenizers import Tokenizer

from model.manifest import AbstentionRule, BundleManifest, Labels
from model.runtime import BundleRunner, Prediction, load_bundle

BATCH_SIZE = 256  # texts per forward pass, so a whole dev set never becomes one padded batch


def eager_runner(
    tokenizer: Tokenizer, module: torch.nn.Module, labels: Labels, word_chars: int | None, device: torch.device,
    temperature: float = 1.0, abstention: AbstentionRule | None = None,
) -> BundleRunner:
    """A runner around a model that has no bundle yet (being trained, or about to be exported); `word_chars`
    is what its kind reads per word (`TaskKind.word_chars`); scores raw unless given a temperature."""
    return BundleRunner(tokenizer, module, labels, word_chars, device, temperature, abstention)


def open_bundle(bundle_dir: Path) -> tuple[BundleManifest, BundleRunner]:
    """A bundle folder verified and loaded on the CPU, as the service loads it: (manifest, runner)."""
    runner = load_bundle(Path(bundle_dir))
    return runner.manifest, runner


def predict_batches(
    runner: BundleRunner, texts: Sequence[str], batch_size: int = BATCH_SIZE
) -> Iterator[list[Prediction]]:
    """The runner's predictions for `texts`, one list per batch of `batch_size` texts, in order."""
    for start in range(0, len(texts), batch_size):
        yield runner.predict(texts[start : start + batch_size])


def predict_all(runner: BundleRunner, texts: Sequence[str], batch_size: int = BATCH_SIZE) -> list[Prediction]:
    """The runner's predictions for `texts`, in order, computed `batch_size` texts at a time."""
    return [prediction for batch in predict_batches(runner, texts, batch_size) for prediction in batch]
