"""Readers for the datasets users bring, turned into frozen dataclasses.

Tagging: the ATIS/SNIPS folder layout (`seq.in`, `seq.out`, `label`, line-aligned) and CoNLL-style BIO
(`token tag` per line, blank line between sentences, an optional `# intent: X` comment before a
sentence). Sentiment: CSV or TSV with a header naming the text and label columns.

Every problem in the input is raised here as one `DataError` naming the file and line, so the CLI can
print one line instead of a stack trace from deep inside torch.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

SEQ_FILES = ("seq.in", "seq.out", "label")
NO_INTENT = "none"  # intent of CoNLL sentences that carry no `# intent:` comment
TEXT_COLUMNS = ("sentence", "text", "review", "content")
LABEL_COLUMNS = ("label", "sentiment", "class", "polarity")

TaggingFormat = Literal["auto", "seq", "conll"]


class DataError(ValueError):
    """Malformed input data; the message starts with `file:line:` so the user can go straight there."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {problem}")
        self.path, self.line, self.problem = str(path), line, problem


@dataclass(frozen=True, slots=True)
class LabelledText:
    """One sentiment example: raw text and its class label (kept as the string found in the file)."""

    text: str
    label: str


@dataclass(frozen=True, slots=True)
class TaggedSentence:
    """One tagging example at the dataset's word level: words, one BIO tag per word, and the intent."""

    words: tuple[str, ...]
    tags: tuple[str, ...]
    intent: str

    @property
    def text(self) -> str:
        """The text the model sees: words joined with single spaces (offsets then map tokens to words)."""
        return " ".join(self.words)


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


def check_bio(path: Path, line: int, tags: Sequence[str]) -> None:
    for tag in tags:
        if tag != "O" and not (tag[:2] in ("B-", "I-") and len(tag) > 2):
            raise DataError(path, line, f"tag {tag!r} is not BIO (expected O, B-type or I-type)")


def read_seq_folder(folder: Path) -> list[TaggedSentence]:
    """ATIS/SNIPS layout: `seq.in` words, `seq.out` tags, `label` intents, one sentence per line.

    Lines are split on runs of whitespace (SNIPS has double and trailing spaces, see the data README).
    """
    if not folder.is_dir():
        raise DataError(folder, None, "folder not found (expected seq.in, seq.out and label inside)")
    texts, tags, labels = (read_lines(folder / name) for name in SEQ_FILES)
    for name, lines in (("seq.out", tags), ("label", labels)):
        if len(lines) != len(texts):
            raise DataError(folder / name, min(len(lines), len(texts)) + 1,
                            f"has {len(lines)} lines but seq.in has {len(texts)}")
    sentences = []
    for number, (text, tag_line, label) in enumerate(zip(texts, tags, labels), start=1):
        words, word_tags = text.split(), tag_line.split()
        if not words:
            raise DataError(folder / "seq.in", number, "empty sentence")
        if len(words) != len(word_tags):
            raise DataError(folder / "seq.out", number, f"{len(word_tags)} tags for {len(words)} words in seq.in")
        if not label.strip():
            raise DataError(folder / "label", number, "empty intent label")
        check_bio(folder / "seq.out", number, word_tags)
        sentences.append(TaggedSentence(tuple(words), tuple(word_tags), label.strip()))
    return sentences


def read_conll(path: Path) -> list[TaggedSentence]:
    """CoNLL-style BIO: `token tag` per line (first column token, last column tag), blank line between
    sentences. `# intent: X` (or `# intent = X`) before a sentence sets its intent; other `#` lines and
    `-DOCSTART-` lines are skipped."""
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    intent: str | None = None
    start = 0

    def close() -> None:
        nonlocal words, tags, intent
        if words:
            check_bio(path, start, tags)
            sentences.append(TaggedSentence(tuple(words), tuple(tags), intent or NO_INTENT))
        words, tags, intent = [], [], None

    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split()
        if not fields or fields[0] == "-DOCSTART-":
            close()
        elif line.lstrip().startswith("#") and not words:
            key, _, value = line.lstrip("# \t").partition(":" if ":" in line else "=")
            if key.strip().lower() == "intent" and value.strip():
                intent = value.strip()
        elif len(fields) < 2:
            raise DataError(path, number, f"expected 'token tag', found {len(fields)} field")
        else:
            if not words:
                start = number
            words.append(fields[0])
            tags.append(fields[-1])
    close()
    if not sentences:
        raise DataError(path, None, "no sentences found")
    return sentences


def detect_tagging_format(path: Path) -> Literal["seq", "conll"]:
    """A folder with `seq.in` is the ATIS/SNIPS layout; a file is CoNLL."""
    if path.is_dir():
        if (path / "seq.in").is_file():
            return "seq"
        raise DataError(path, None, "folder has no seq.in (expected seq.in, seq.out and label)")
    if path.is_file():
        return "conll"
    raise DataError(path, None, "not found")


def read_tagging(path: Path, fmt: TaggingFormat = "auto") -> list[TaggedSentence]:
    """Read tagging data in the given or detected format."""
    path = Path(path)
    fmt = detect_tagging_format(path) if fmt == "auto" else fmt
    return read_seq_folder(path) if fmt == "seq" else read_conll(path)


def read_labelled_table(
    path: Path, text_column: str | None = None, label_column: str | None = None,
    label_names: Mapping[str, str] | None = None,
) -> list[LabelledText]:
    """CSV or TSV with a header row. The delimiter is a tab for `.tsv`/`.tab` files or when the header
    has a tab, else a comma; the columns are named by the arguments or found among common names.

    `label_names` maps the labels found in the file to class names (SST-2's `0` → `negative`); with a
    mapping, a label it does not name is an error on that line rather than a silent new class."""
    path = Path(path)
    lines = read_lines(path)
    if not lines:
        raise DataError(path, 1, "empty file (expected a header naming the text and label columns)")
    is_tsv = path.suffix.lower() in (".tsv", ".tab") or "\t" in lines[0]
    # TSV from NLP datasets is not quoted (SST-2 text holds bare quotes); CSV follows RFC 4180.
    reader = csv.reader(io.StringIO("\n".join(lines)), delimiter="\t" if is_tsv else ",",
                        quoting=csv.QUOTE_NONE if is_tsv else csv.QUOTE_MINIMAL)
    try:
        rows = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise DataError(path, reader.line_num, f"cannot parse CSV ({exc})") from None
    header = [name.strip() for name in rows[0][1]]
    text_at = find_column(path, header, text_column, TEXT_COLUMNS, "text")
    label_at = find_column(path, header, label_column, LABEL_COLUMNS, "label")
    examples = []
    for number, row in rows[1:]:
        if not row:
            continue
        if len(row) != len(header):
            raise DataError(path, number, f"{len(row)} fields but the header has {len(header)}")
        text, label = row[text_at].strip(), row[label_at].strip()
        if not text:
            raise DataError(path, number, "empty text")
        if not label:
            raise DataError(path, number, "empty label")
        if label_names is not None:
            if label not in label_names:
                known = ", ".join(repr(raw) for raw in label_names)
                raise DataError(path, number, f"label {label!r} has no class name (label names given for {known})")
            label = label_names[label]
        examples.append(LabelledText(text, label))
    if not examples:
        raise DataError(path, None, "no examples after the header")
    return examples


def parse_label_names(spec: str) -> dict[str, str]:
    """`0=negative,1=positive` → {"0": "negative", "1": "positive"}. The order is kept (it is the class
    order of the bundle); several labels may share one name (`1=neg,2=neg,4=pos,5=pos`)."""
    names: dict[str, str] = {}
    for item in spec.split(","):
        raw, sep, name = (part.strip() for part in item.partition("="))
        if not sep or not raw or not name:
            raise ValueError(f"expected RAW=NAME pairs separated by commas, got {item.strip()!r}")
        if raw in names:
            raise ValueError(f"label {raw!r} is named twice")
        names[raw] = name
    return names


def find_column(path: Path, header: list[str], wanted: str | None, usual: Sequence[str], role: str) -> int:
    lowered = [name.lower() for name in header]
    candidates = [wanted.lower()] if wanted else list(usual)
    for name in candidates:
        if name in lowered:
            return lowered.index(name)
    expected = repr(wanted) if wanted else " or ".join(repr(name) for name in usual)
    raise DataError(path, 1, f"no {role} column {expected} in header {header}")
