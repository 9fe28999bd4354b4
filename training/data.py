"""Readers for the datasets users bring, turned into frozen dataclasses.

Tagging: the ATIS/SNIPS folder layout (`seq.in`, `seq.out`, `label`, line-aligned), CoNLL-style BIO
(`token tag` per line, blank line between sentences, an optional `# intent: X` comment before a
sentence; BIOES/IOBES and BILOU tags are converted to BIO), and JSONL with character spans as annotation
tools export them (`{"text", "spans": [{"start", "end", "label"}], "intent"?}`). Classification: CSV or
TSV with a header naming the text and label columns, or JSONL rows with a text and a label field.

Every problem in the input is raised here as one `DataError` naming the file and line, so the CLI can
print one line instead of a stack trace from deep inside torch.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from training.tokenizer import span_tags, token_offsets, token_tags, word_tags

SEQ_FILES = ("seq.in", "seq.out", "label")
NO_INTENT = "none"  # intent of CoNLL sentences that carry no `# intent:` comment
TEXT_COLUMNS = ("sentence", "text", "review", "content")
LABEL_COLUMNS = ("label", "sentiment", "class", "polarity")

JSONL_SUFFIXES = (".jsonl", ".ndjson")

TaggingFormat = Literal["auto", "seq", "conll", "jsonl"]
TableFormat = Literal["auto", "csv", "jsonl"]  # csv: CSV or TSV


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


Examples = Sequence[TaggedSentence] | Sequence[LabelledText]  # one task's data: all of one kind


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


# BIOES/IOBES (S = single, E = end) and BILOU (U = unit, L = last) mark the same entities as BIO
TO_BIO = {"B-": "B-", "I-": "I-", "S-": "B-", "E-": "I-", "U-": "B-", "L-": "I-"}


def to_bio(path: Path, line: int, tags: Sequence[str]) -> tuple[str, ...]:
    """Tags as BIO: BIOES/IOBES and BILOU prefixes are rewritten (`S-x` → `B-x`, `E-x` → `I-x`), so the
    model always learns (and the service decodes) BIO; anything else is refused."""
    converted = []
    for tag in tags:
        if tag != "O" and not (tag[:2] in TO_BIO and len(tag) > 2):
            raise DataError(path, line, f"tag {tag!r} is not BIO (expected O, B-type or I-type)")
        converted.append(tag if tag == "O" else TO_BIO[tag[:2]] + tag[2:])
    return tuple(converted)


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
        bio = to_bio(folder / "seq.out", number, word_tags)
        sentences.append(TaggedSentence(tuple(words), bio, label.strip(), line=number))
    return sentences


def read_conll(path: Path) -> list[TaggedSentence]:
    """CoNLL-style BIO: `token tag` per line (first column token, last column tag), blank line between
    sentences. `# intent: X` (or `# intent = X`) before a sentence sets its intent; other `#` lines and
    `-DOCSTART-` lines are skipped. BIOES/IOBES tags are converted to BIO (see `to_bio`)."""
    sentences: list[TaggedSentence] = []
    words: list[str] = []
    tags: list[str] = []
    intent: str | None = None
    start = 0

    def close() -> None:
        nonlocal words, tags, intent
        if words:
            sentences.append(TaggedSentence(tuple(words), to_bio(path, start, tags), intent or NO_INTENT, line=start))
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


def read_jsonl_spans(path: Path) -> list[TaggedSentence]:
    """JSONL with character spans, one sentence per line: `{"text": ..., "spans": [{"start", "end",
    "label"}], "intent": ...}` (spaCy/Prodigy style; offsets count Unicode code points, end exclusive).

    The text is split by the serving tokenizer and the spans become BIO tags over its tokens, so what is
    trained is what the service will see. A span that does not start and end on token boundaries,
    overlapping spans and offsets past the text are refused with the line; `intent` is optional, but
    then on every line or none."""
    rows = read_jsonl(path)
    texts = [text_field(path, number, row, "text") for number, row in rows]
    with_intent = [number for number, row in rows if "intent" in row]
    if with_intent and len(with_intent) != len(rows):
        missing = next(number for number, row in rows if "intent" not in row)
        raise DataError(path, missing, f"missing field 'intent' (line {with_intent[0]} has one)")
    sentences = []
    for (number, row), text, offsets in zip(rows, texts, token_offsets(texts), strict=True):
        spans = row.get("spans")
        if not isinstance(spans, list):
            problem = "missing field 'spans'" if spans is None else "field 'spans' must be a list"
            raise DataError(path, number, problem + " (use [] for a text without entities)")
        try:
            tags = span_tags(text, offsets, [span_fields(span) for span in spans])
        except ValueError as exc:
            raise DataError(path, number, str(exc)) from None
        intent = text_field(path, number, row, "intent").strip() if with_intent else NO_INTENT
        words = tuple(text[start:end] for start, end in offsets)
        sentences.append(TaggedSentence(words, tuple(tags), intent, raw=text, line=number))
    return sentences


def span_fields(span: Any) -> tuple[int, int, str]:
    """(start, end, label) of one span object; ValueError naming what is missing or wrong."""
    if not isinstance(span, dict):
        raise ValueError(f"span {span!r} must be an object with start, end and label")
    for name in ("start", "end", "label"):
        if name not in span:
            raise ValueError(f"span {span} has no {name!r}")
    start, end, label = span["start"], span["end"], span["label"]
    if type(start) is not int or type(end) is not int:
        raise ValueError(f"span {span}: start and end must be integers")
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"span {span}: label must be a non-empty string")
    return start, end, label


def detect_tagging_format(path: Path) -> Literal["seq", "conll", "jsonl"]:
    """A folder with `seq.in` is the ATIS/SNIPS layout; a `.jsonl` file holds spans; any other file is CoNLL."""
    if path.is_dir():
        if (path / "seq.in").is_file():
            return "seq"
        raise DataError(path, None, "folder has no seq.in (expected seq.in, seq.out and label)")
    if path.is_file():
        return "jsonl" if path.suffix.lower() in JSONL_SUFFIXES else "conll"
    raise DataError(path, None, "not found")


def read_tagging(path: Path, fmt: TaggingFormat = "auto") -> list[TaggedSentence]:
    """Read tagging data in the given or detected format."""
    path = Path(path)
    readers = {"seq": read_seq_folder, "conll": read_conll, "jsonl": read_jsonl_spans}
    if fmt != "auto" and fmt not in readers:
        raise DataError(path, None, f"format {fmt!r} is not one of tagging data (auto, {', '.join(readers)})")
    return readers[detect_tagging_format(path) if fmt == "auto" else fmt](path)


def read_labelled(
    path: Path, fmt: TableFormat = "auto", text_column: str | None = None, label_column: str | None = None,
    label_names: Mapping[str, str] | None = None,
) -> list[LabelledText]:
    """Read classification data: JSONL for `.jsonl` files (or `fmt="jsonl"`), else CSV/TSV."""
    path = Path(path)
    if fmt not in ("auto", "csv", "jsonl"):
        raise DataError(path, None, f"format {fmt!r} is not one of classification data (auto, csv, jsonl)")
    if fmt == "jsonl" or (fmt == "auto" and path.suffix.lower() in JSONL_SUFFIXES):
        return read_labelled_jsonl(path, text_column, label_column, label_names)
    return read_labelled_table(path, text_column, label_column, label_names)


def read_labelled_jsonl(
    path: Path, text_column: str | None = None, label_column: str | None = None,
    label_names: Mapping[str, str] | None = None,
) -> list[LabelledText]:
    """JSONL rows with a text and a label field, named by the arguments or found among the usual names
    (those of the CSV columns) in the first row. A label may be a string or an integer."""
    rows = read_jsonl(path)
    first_number, first = rows[0]
    names = {key.lower(): key for key in first}
    found = []
    for wanted, usual, role in ((text_column, TEXT_COLUMNS, "text"), (label_column, LABEL_COLUMNS, "label")):
        candidates = [wanted] if wanted else list(usual)
        key = next((names[name.lower()] for name in candidates if name.lower() in names), None)
        if key is None:
            expected = " or ".join(repr(name) for name in candidates)
            raise DataError(path, first_number, f"no {role} field {expected} in {sorted(first)}")
        found.append(key)
    text_key, label_key = found
    examples = []
    for number, row in rows:
        text = text_field(path, number, row, text_key).strip()
        if label_key not in row:
            raise DataError(path, number, f"missing field {label_key!r}")
        value = row[label_key]
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
            raise DataError(path, number, f"field {label_key!r} must be one label (a string or an integer), "
                                          f"found {value!r}")
        examples.append(LabelledText(text, name_label(path, number, str(value).strip(), label_names), number))
    return examples


def name_label(path: Path, number: int, label: str, label_names: Mapping[str, str] | None) -> str:
    """The class name of a label read from the data (itself without `--label-names`)."""
    if label_names is None:
        return label
    if label not in label_names:
        known = ", ".join(repr(raw) for raw in label_names)
        raise DataError(path, number, f"label {label!r} has no class name (label names given for {known})")
    return label_names[label]


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
        examples.append(LabelledText(text, name_label(path, number, label, label_names), number))
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
