"""Readers of classification data, each turned into `LabelledText`s: tables and JSON Lines rows.

CSV or TSV with a header naming the text and label columns, or JSONL rows with a text and a label field;
the columns are named by the user or found among common names. Labels can be renamed on the way in
(`--label-names 0=negative,1=positive`), and then a label without a name is an error on its line rather
than a silent new class.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

from training.examples import (
    JSONL_SUFFIXES,
    DataError,
    DataReader,
    LabelledText,
    ReadOptions,
    read_jsonl,
    read_lines,
    text_field,
)

TEXT_COLUMNS = ("sentence", "text", "review", "content")
LABEL_COLUMNS = ("label", "sentiment", "class", "polarity")

TableFormat = Literal["auto", "csv", "jsonl"]  # csv: CSV or TSV
TABLE_FORMATS = ("csv", "jsonl")  # what `auto` chooses among


def read_labelled(
    path: Path, fmt: TableFormat = "auto", text_column: str | None = None, label_column: str | None = None,
    label_names: Mapping[str, str] | None = None,
) -> list[LabelledText]:
    """Read classification data: JSONL for `.jsonl` files (or `fmt="jsonl"`), else CSV/TSV."""
    path = Path(path)
    if fmt != "auto" and fmt not in TABLE_FORMATS:
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


def read_table_data(path: Path, options: ReadOptions) -> list[LabelledText]:
    """`read_labelled` as a task calls it, with every option."""
    return read_labelled(path, options.format, options.text_column, options.label_column,  # type: ignore[arg-type]
                         options.label_names)


TABLE_DATA = DataReader(
    files="TSV/CSV file with a header (text and label columns) or .jsonl (text and label fields)",
    formats=TABLE_FORMATS, auto=".jsonl → jsonl, else CSV/TSV", table=True, read=read_table_data,
)
