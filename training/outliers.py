"""Texts from outside a task's scope: read from data of any kind, and the loss that teaches "no idea".

Outlier exposure (Hendrycks, Mazeika and Dietterich 2019, "Deep Anomaly Detection with Outlier
Exposure"): beside its own examples the model sees texts from other sources, trained toward the uniform
distribution over its sentence-level labels, so its calibrated confidence falls on text unlike anything
it was built for. Outliers come from other datasets than those a bundle's rule is judged on, and texts
of theirs that are within the task's scope (a flight booking among a tagger's outliers) are left out by label.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import torch
from torch import Tensor

from training.examples import DataError, ReadOptions, read_lines
from training.table_data import TABLE_DATA
from training.tagging_data import TAGGING_DATA


def read_texts(path: Path, exclude: Collection[str] = ()) -> list[str]:
    """The texts of a data file or folder, less those labelled (class or intent) with one of `exclude`.

    A folder is read as tagging data (ATIS/SNIPS layout), a `.txt` file as one text a line, anything else
    as a table (CSV/TSV with a header, or JSON Lines with text and label fields).
    """
    path = Path(path)
    if path.suffix.lower() == ".txt":
        return [line for line in read_lines(path) if line.strip()]
    reader = TAGGING_DATA if path.is_dir() else TABLE_DATA
    examples = reader.read(path, ReadOptions())
    texts = [example.text for example in examples if example.labels()[0][1] not in exclude]
    if not texts:
        raise DataError(path, None, "no texts left once the excluded labels are left out")
    return texts


def read_all(paths: Sequence[str], exclude: Collection[str] = ()) -> list[str]:
    return [text for path in paths for text in read_texts(Path(path), exclude)]


def toward_uniform(logits: Tensor) -> Tensor:
    """Mean cross-entropy from the uniform distribution to each row's softmax (0 for no rows): lowest when
    the model spreads its probability evenly, i.e. has no idea."""
    if logits.shape[0] == 0:
        return logits.sum() * 0.0
    return -torch.log_softmax(logits.float(), dim=-1).mean()


def draw(count: int, pool: int, generator: torch.Generator) -> list[int]:
    """`count` distinct indices of a pool of `pool` outliers (all of them when it is smaller), new each epoch."""
    return torch.randperm(pool, generator=generator)[:count].tolist()
