"""What every reader of training data shares: the example types, one error type, lines and JSON Lines.

The tagging formats (`training.tagging_data`) and the table formats (`training.table_data`) read into the
types here, so the pipeline, evaluation and prediction handle one `Examples` type whatever the file was.
Every problem in the input is raised as one `DataError` naming the file and line, so the CLI can print
one line instead of a stack trace from deep inside torch.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.tokenizer import token_tags, word_tags

JSONL_SUFFIXES = (".jsonl", ".ndjson")


class DataError(ValueError):
    """Malformed input data; the message starts with `file:line:` so the user can go straight there."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


@dataclass(frozen=True, slots=True)
class LabelledText:
    """One classification example: raw text and its class label (kept as the string found in the file)."""

    text: str
    label: str
    line: int | None = field(default=None, compare=False)  # where it was read, for messages

    def labels(self) -> list[tuple[str, str, str]]:
        """(kind, label, file in a seq folder) of every label it carries: here its one class."""
        return [("label", self.label, "")]


@dataclass(frozen=True, slots=True)
class TaggedSentence:
    """One tagging example: words, one BIO tag per word, and the intent.

    Word-level data (ATIS folders, CoNLL) has no `raw` text: the model sees the words joined with single
    spaces. Span data (JSONL) keeps the annotated `raw` text, and its words are the serving tokenizer's
    tokens of it, so its tags are already per token."""

    words: tuple[str, ...]
    tags: tuple[str, ...]
    intent: str
    raw: str | None = None
    line: int | None = field(default=None, compare=False)  # first line of the example in its file

    @property
    def text(self) -> str:
        """The text the model sees (offsets then map tokens back to words)."""
        return self.raw if self.raw is not None else " ".join(self.words)

    def token_tags(self, offsets: Sequence[tuple[int, int]]) -> list[str]:
        """The tag of each token of `text` (tokens found by the bundle's tokenizer, cut at `max_seq_len`)."""
        if self.raw is not None:
            return list(self.tags[: len(offsets)])
        return token_tags(self.words, self.tags, offsets)

    def word_tags(self, predicted: Sequence[str], offsets: Sequence[tuple[int, int]]) -> list[str]:
        """Predicted token tags back at this sentence's words (the level its gold tags are scored on)."""
        if self.raw is not None:
            return list(predicted) + ["O"] * (len(self.words) - len(predicted))
        return word_tags(self.words, predicted, offsets)

    def labels(self) -> list[tuple[str, str, str]]:
        """(kind, label, file in a seq folder) of every label it carries: the intent and each word's tag."""
        return [("intent", self.intent, "label")] + [("tag", tag, "seq.out") for tag in self.tags]


Examples = Sequence[TaggedSentence] | Sequence[LabelledText]  # one task's data: all of one kind


@dataclass(frozen=True)
class ReadOptions:
    """How the user asked for data to be read; each family of formats takes what applies to it."""

    format: str = "auto"
    text_column: str | None = None  # tables: column (CSV) or field (JSONL) names when not the usual ones
    label_column: str | None = None
    label_names: Mapping[str, str] | None = None  # tables: label in the data → class name


@dataclass(frozen=True)
class DataReader:
    """A family of formats, as the CLI offers it and a task reads it (`training.kinds` picks one per task)."""

    files: str  # what its files are, in words
    formats: tuple[str, ...]  # the `--format` values beside auto
    auto: str  # how auto chooses among them, in words
    table: bool  # rows of a table: `--text-column`, `--label-column` and `--label-names` apply
    read: Callable[[Path, ReadOptions], Examples]


def read_lines(path: Path) -> list[str]:
    """All lines of a UTF-8 file (a BOM is dropped); bad bytes are reported with their line number."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, None, "file not found") from None
    except IsADirectoryError:
        raise DataError(path, None, "is a folder, expected a file") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(path, line, f"not valid UTF-8 (byte 0x{raw[exc.start]:02x})") from None
    # split on "\n" only: str.splitlines would also break at U+2028, U+0085 and others found in real text
    lines = [line.removesuffix("\r") for line in text.split("\n")]
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_jsonl(path: Path) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSON Lines file."""
    rows = []
    for number, line in enumerate(read_lines(path), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(path, number, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
        if not isinstance(row, dict):
            raise DataError(path, number, f"expected a JSON object, found {type(row).__name__}")
        rows.append((number, row))
    if not rows:
        raise DataError(path, None, "no examples found")
    return rows


def text_field(path: Path, number: int, row: Mapping[str, Any], name: str) -> str:
    if name not in row:
        raise DataError(path, number, f"missing field {name!r}")
    value = row[name]
    if not isinstance(value, str) or not value.strip():
        raise DataError(path, number, f"field {name!r} must be a non-empty string, found {value!r}")
    return value
