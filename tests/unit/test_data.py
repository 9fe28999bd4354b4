"""Readers: good files become dataclasses; malformed ones raise DataError naming file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.unit.conftest import write_seq_folder
from training.data import (
    NO_INTENT,
    DataError,
    LabelledText,
    TaggedSentence,
    parse_label_names,
    read_conll,
    read_labelled_table,
    read_seq_folder,
    read_tagging,
)


def data_error(read: Callable[..., object], *args: object, **kwargs: object) -> str:
    """The one-line message a reader refuses its input with."""
    with pytest.raises(DataError) as error:
        read(*args, **kwargs)
    return str(error.value)


def test_seq_folder_splits_on_runs_of_whitespace(tmp_path: Path) -> None:
    folder = write_seq_folder(
        tmp_path / "train",
        " play  the  beatles\nweather in paris \n",
        "O B-artist I-artist \nO O B-city \n",
        "PlayMusic\nGetWeather\n",
    )
    assert read_seq_folder(folder) == [
        TaggedSentence(("play", "the", "beatles"), ("O", "B-artist", "I-artist"), "PlayMusic"),
        TaggedSentence(("weather", "in", "paris"), ("O", "O", "B-city"), "GetWeather"),
    ]


def test_seq_folder_text_is_words_joined_by_single_spaces(tmp_path: Path) -> None:
    folder = write_seq_folder(tmp_path, "a  b\n", "O O\n", "x\n")
    assert read_seq_folder(folder)[0].text == "a b"


def test_seq_folder_tag_count_mismatch_names_file_and_line(tmp_path: Path) -> None:
    folder = write_seq_folder(tmp_path, "a b\nc d e\n", "O O\nO O\n", "x\ny\n")
    assert data_error(read_seq_folder, folder) == f"{folder / 'seq.out'}:2: 2 tags for 3 words in seq.in"


def test_seq_folder_line_count_mismatch(tmp_path: Path) -> None:
    folder = write_seq_folder(tmp_path, "a\nb\n", "O\nO\n", "x\n")
    assert data_error(read_seq_folder, folder) == f"{folder / 'label'}:2: has 1 lines but seq.in has 2"


def test_seq_folder_missing_file(tmp_path: Path) -> None:
    (tmp_path / "seq.in").write_text("a\n")
    assert data_error(read_seq_folder, tmp_path) == f"{tmp_path / 'seq.out'}: file not found"


def test_bad_encoding_names_the_line(tmp_path: Path) -> None:
    folder = write_seq_folder(tmp_path, "", "O\nO\n", "x\ny\n")
    (folder / "seq.in").write_bytes(b"ok\ncaf\xe9\n")
    assert data_error(read_seq_folder, folder) == f"{folder / 'seq.in'}:2: not valid UTF-8 (byte 0xe9)"


def test_non_bio_tag_is_refused(tmp_path: Path) -> None:
    folder = write_seq_folder(tmp_path, "a b\n", "O X-city\n", "x\n")
    assert data_error(read_seq_folder, folder) == (
        f"{folder / 'seq.out'}:1: tag 'X-city' is not BIO (expected O, B-type or I-type)"
    )


def test_line_separator_characters_do_not_break_line_alignment(tmp_path: Path) -> None:
    folder = write_seq_folder(tmp_path, "a\u2028b c\nd\n", "O O O\nO\n", "x\ny\n")
    assert [s.words for s in read_seq_folder(folder)] == [("a", "b", "c"), ("d",)]


CONLL = """-DOCSTART- -X- O

# intent: BookFlight
fly NN O
to TO O
new NNP B-city
york NNP I-city

hello O
"""


def test_conll_reads_first_and_last_column_and_intent_comment(tmp_path: Path) -> None:
    path = tmp_path / "train.conll"
    path.write_text(CONLL, encoding="utf-8")
    assert read_conll(path) == [
        TaggedSentence(("fly", "to", "new", "york"), ("O", "O", "B-city", "I-city"), "BookFlight"),
        TaggedSentence(("hello",), ("O",), NO_INTENT),
    ]


def test_conll_line_without_tag_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.conll"
    path.write_text("fly O\nto\n", encoding="utf-8")
    assert data_error(read_conll, path) == f"{path}:2: expected 'token tag', found 1 field"


def test_conll_bad_tag_names_sentence_start(tmp_path: Path) -> None:
    path = tmp_path / "bad.conll"
    path.write_text("a O\n\nb O\nc Z\n", encoding="utf-8")
    assert data_error(read_conll, path) == f"{path}:3: tag 'Z' is not BIO (expected O, B-type or I-type)"


def test_format_is_detected_from_folder_or_file(tmp_path: Path) -> None:
    folder = write_seq_folder(tmp_path / "seq", "hi\n", "O\n", "greet\n")
    conll = tmp_path / "data.txt"
    conll.write_text("hi O\n", encoding="utf-8")
    assert read_tagging(folder)[0].intent == "greet"
    assert read_tagging(conll)[0].intent == NO_INTENT


def test_missing_tagging_path(tmp_path: Path) -> None:
    assert data_error(read_tagging, tmp_path / "nope") == f"{tmp_path / 'nope'}: not found"


def test_tsv_with_header_keeps_bare_quotes(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_text('sentence\tlabel\na "quoted" film .\t1\nbad\t0\n', encoding="utf-8")
    assert read_labelled_table(path) == [LabelledText('a "quoted" film .', "1"), LabelledText("bad", "0")]


def test_csv_with_named_columns_and_quoted_commas(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text('id,Review,Stars\n1,"good, really",pos\n2,meh,neg\n', encoding="utf-8")
    assert read_labelled_table(path, text_column="review", label_column="stars") == [
        LabelledText("good, really", "pos"),
        LabelledText("meh", "neg"),
    ]


def test_label_names_map_labels_at_read_time(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\ngood\t1\nbad\t0\n", encoding="utf-8")
    names = parse_label_names("0=negative, 1=positive")
    assert names == {"0": "negative", "1": "positive"} and list(names) == ["0", "1"]
    assert read_labelled_table(path, label_names=names) == [LabelledText("good", "positive"),
                                                             LabelledText("bad", "negative")]


def test_label_without_a_name_is_one_error_naming_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "dev.tsv"
    path.write_text("sentence\tlabel\ngood\t1\nso-so\t2\n", encoding="utf-8")
    names = {"0": "negative", "1": "positive"}
    assert data_error(read_labelled_table, path, label_names=names) == (
        f"{path}:3: label '2' has no class name (label names given for '0', '1')"
    )


@pytest.mark.parametrize("spec", ["0=negative,1", "0=negative,=positive", "0=a,0=b", ""])
def test_malformed_label_names_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_label_names(spec)


def test_csv_missing_column_names_header_line(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    path.write_text("text,score\nfine,1\n", encoding="utf-8")
    assert data_error(read_labelled_table, path) == (
        f"{path}:1: no label column 'label' or 'sentiment' or 'class' or 'polarity' in header ['text', 'score']"
    )


def test_csv_row_with_wrong_field_count(tmp_path: Path) -> None:
    path = tmp_path / "train.tsv"
    path.write_text("sentence\tlabel\nok\t1\nno label here\n", encoding="utf-8")
    assert data_error(read_labelled_table, path) == f"{path}:3: 1 fields but the header has 2"


def test_empty_table(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    assert data_error(read_labelled_table, path) == (
        f"{path}:1: empty file (expected a header naming the text and label columns)"
    )


def test_real_atis_and_snips_counts(data_root: Path) -> None:
    atis, snips = read_tagging(data_root / "atis" / "train"), read_tagging(data_root / "snips" / "train")
    assert (len(atis), len(snips)) == (4478, 13084)
    assert len({s.intent for s in atis}) == 21
    assert len({t for s in snips for t in s.tags}) == 72


def test_real_sst2_counts(data_root: Path) -> None:
    phrases = read_labelled_table(data_root / "sst2" / "train_phrases.tsv")
    dev = read_labelled_table(data_root / "sst2" / "dev.tsv")
    assert (len(phrases), len(dev)) == (67349, 872)
    assert sum(e.label == "1" for e in dev) == 444
