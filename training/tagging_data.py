"""Readers of tagging data, each turned into `TaggedSentence`s with BIO tags.

The ATIS/SNIPS folder layout (`seq.in`, `seq.out`, `label`, line-aligned), CoNLL-style BIO (`token tag`
per line, blank line between sentences, an optional `# intent: X` comment before a sentence; BIOES/IOBES
and BILOU tags are converted to BIO), and JSONL with character spans as annotation tools export them
(`{"text", "spans": [{"start", "end", "label"}], "intent"?}`). Spans are cut by the serving tokenizer, so
what is trained is what the service will see.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from training.examples import (
    JSONL_SUFFIXES,
    DataError,
    DataReader,
    ReadOptions,
    TaggedSentence,
    read_jsonl,
    read_lines,
    text_field,
)
from training.tokenizer import span_tags, token_offsets

SEQ_FILES = ("seq.in", "seq.out", "label")
NO_INTENT = "none"  # intent of CoNLL sentences that carry no `# intent:` comment

TaggingFormat = Literal["auto", "seq", "conll", "jsonl"]


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


def read_tagging_data(path: Path, options: ReadOptions) -> list[TaggedSentence]:
    """`read_tagging` as a task calls it: of the options, only the format applies to tagging data."""
    return read_tagging(path, options.format)  # type: ignore[arg-type]


TAGGING_DATA = DataReader(
    files="ATIS/SNIPS folder (seq.in, seq.out, label), CoNLL file (token tag per line) or .jsonl with character "
          "spans",
    formats=("seq", "conll", "jsonl"), auto="folder → seq, .jsonl → jsonl, other file → conll", table=False,
    read=read_tagging_data,
)
