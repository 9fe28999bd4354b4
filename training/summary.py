"""Read a task's train and dev data once, check them against each other, and describe them.

Everything here runs before any model is built, so `--dry-run` (and the start of every training run)
reports problems in the data while they are still cheap: labels that occur in dev but never in training
can never be predicted and always count as errors, so they are named with the dev line they first occur on.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from model.text import bio_spans
from training.config import TrainConfig
from training.examples import Examples, LabelledText, TaggedSentence
from training.table_data import read_labelled
from training.tagging_data import read_tagging
from training.tokenizer import token_offsets


def read_data(config: TrainConfig) -> tuple[Examples, Examples]:
    """(train, dev) through the task's readers; a DataError names file and line of the first problem."""
    if config.task == "tagger":
        return tuple(read_tagging(Path(path), config.data_format) for path in (config.train, config.dev))  # type: ignore
    columns = (config.data_format, config.text_column, config.label_column, config.label_names)
    return tuple(read_labelled(Path(path), *columns) for path in (config.train, config.dev))  # type: ignore


def example_labels(example: TaggedSentence | LabelledText) -> list[tuple[str, str, str]]:
    """(kind, label, file in a seq folder) of every label an example carries."""
    if isinstance(example, LabelledText):
        return [("label", example.label, "")]
    return [("intent", example.intent, "label")] + [("tag", tag, "seq.out") for tag in example.tags]


def unseen_in_train(train: Examples, dev: Examples, dev_path: str) -> list[str]:
    """One line per dev label never seen in training: where it first occurs in dev and how often."""
    seen = {(kind, label) for example in train for kind, label, _ in example_labels(example)}
    first: dict[tuple[str, str], str] = {}
    counts: Counter[tuple[str, str]] = Counter()
    for example in dev:
        for kind, label, file in example_labels(example):
            if (kind, label) in seen:
                continue
            counts[kind, label] += 1
            path = Path(dev_path)
            first.setdefault((kind, label), f"{path / file if path.is_dir() else path}:{example.line}")
    return [f"{where}: {kind} {label!r} never occurs in training ({counts[kind, label]} in dev): it can only be "
            "counted wrong" for (kind, label), where in first.items()]


def label_counts(examples: Examples) -> dict[str, Counter[str]]:
    if examples and isinstance(examples[0], LabelledText):
        return {"labels": Counter(e.label for e in examples)}  # type: ignore[union-attr]
    return {"intents": Counter(s.intent for s in examples),  # type: ignore[union-attr]
            "slots (entities)": Counter(slot for s in examples for slot, _, _ in bio_spans(s.tags))}  # type: ignore


def describe_data(config: TrainConfig) -> str:
    """The `--dry-run` summary: per split its size in examples and tokens (as the service's tokenizer
    splits them), its label counts, and the dev labels never seen in training."""
    train, dev = read_data(config)
    unit = "sentences" if config.task == "tagger" else "texts"
    lines = []
    for split, path, examples in (("train", config.train, train), ("dev", config.dev, dev)):
        lengths = [len(offsets) for offsets in token_offsets([e.text for e in examples])]
        cut = sum(length > config.max_seq_len for length in lengths)
        lines.append(f"{split} ({path}): {len(examples):,} {unit}, {sum(lengths):,} tokens, longest {max(lengths)}"
                     + (f" ({cut:,} cut at --max-seq-len {config.max_seq_len})" if cut else ""))
        for name, counts in label_counts(examples).items():
            lines.append(f"  {name} ({len(counts)}): "
                         + ", ".join(f"{label} {count:,}" for label, count in counts.most_common()))
    unseen = unseen_in_train(train, dev, config.dev)
    lines.append("dev labels never seen in training: " + ("none" if not unseen else f"{len(unseen)}"))
    lines.extend(f"  {line}" for line in unseen)
    return "\n".join(lines)
