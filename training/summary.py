"""Read a task's train and dev data once, check them against each other, and describe them.

Everything here runs before any model is built, so `--dry-run` (and the start of every training run)
reports problems in the data while they are still cheap: labels that occur in dev but never in training
can never be predicted and always count as errors, so they are named with the dev line they first occur on.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from training.config import TrainConfig
from training.examples import Examples, ReadOptions
from training.kinds import TASKS
from training.tokenizer import token_offsets


def read_data(config: TrainConfig) -> tuple[Examples, Examples]:
    """(train, dev) through the task's reader; a DataError names file and line of the first problem."""
    options = ReadOptions(config.data_format, config.text_column, config.label_column, config.label_names)
    read = TASKS[config.task].data.read
    return read(Path(config.train), options), read(Path(config.dev), options)


def unseen_in_train(train: Examples, dev: Examples, dev_path: str) -> list[str]:
    """One line per dev label never seen in training: where it first occurs in dev and how often."""
    seen = {(kind, label) for example in train for kind, label, _ in example.labels()}
    first: dict[tuple[str, str], str] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for example in dev:
        for kind, label, file in example.labels():
            if (kind, label) in seen:
                continue
            counts[kind, label] += 1
            path = Path(dev_path)
            first.setdefault((kind, label), f"{path / file if path.is_dir() else path}:{example.line}")
    return [f"{where}: {kind} {label!r} never occurs in training ({counts[kind, label]} in dev): it can only be "
            "counted wrong" for (kind, label), where in first.items()]


def describe_data(config: TrainConfig) -> str:
    """The `--dry-run` summary: per split its size in examples and tokens (as the service's tokenizer
    splits them), its label counts, and the dev labels never seen in training."""
    train, dev = read_data(config)
    task = TASKS[config.task]
    lines = []
    for split, path, examples in (("train", config.train, train), ("dev", config.dev, dev)):
        lengths = [len(offsets) for offsets in token_offsets([e.text for e in examples])]
        cut = sum(length > config.max_seq_len for length in lengths)
        lines.append(f"{split} ({path}): {len(examples):,} {task.unit}, {sum(lengths):,} tokens, longest {max(lengths)}"
                     + (f" ({cut:,} cut at --max-seq-len {config.max_seq_len})" if cut else ""))
        for name, counts in task.label_counts(examples).items():
            lines.append(f"  {name} ({len(counts)}): "
                         + ", ".join(f"{label} {count:,}" for label, count in counts.most_common()))
    unseen = unseen_in_train(train, dev, config.dev)
    lines.append("dev labels never seen in training: " + ("none" if not unseen else f"{len(unseen)}"))
    lines.extend(f"  {line}" for line in unseen)
    return "\n".join(lines)
