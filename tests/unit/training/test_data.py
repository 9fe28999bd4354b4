"""Readers: good files become dataclasses; malformed ones raise DataError naming file and line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from model.text import bio_spans, encode_texts
from tests.unit.conftest import write_seq_folder
from training.examples import DataError, LabelledText, TaggedSentence
from training.summary import unseen_in_train
from training.table_data import parse_label_names, read_labelled, read_labelled_table
from training.tagging_data import NO_INTENT, read_conll, read_jsonl_spans, read_seq_folder, read_tagging
from training.tokenizer import build_tokenizer


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


# --- BIOES / IOBES / BILOU -------------------------------------------------------------------------------


def test_conll_bioes_is_converted_to_bio(tmp_path: Path) -> None:
    path = tmp_path / "bioes.conll"
    path.write_text("fly O\nto O\nnew B-city\nyork E-city\non O\nmonday S-day\n\n"
                    "la B-city\nnew I-city\nyork E-city\nparis U-city\nrome B-city\nnord L-city\n", encoding="utf-8")
    assert [s.tags for s in read_conll(path)] == [
        ("O", "O", "B-city", "I-city", "O", "B-day"),
        ("B-city", "I-city", "I-city", "B-city", "B-city", "I-city"),
    ]


# --- JSONL with character spans --------------------------------------------------------------------------


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n"
                            for row in rows), encoding="utf-8")
    return path


def test_spans_become_bio_over_the_serving_tokens(tmp_path: Path) -> None:
    # repeated spaces, punctuation glued to words, non-ASCII, and "…" (NFKC: three "." tokens on one character)
    text = "Fly from  São Paulo, Brazil… to New York!"
    path = write_jsonl(tmp_path / "train.jsonl", [
        {"text": text, "intent": "flight", "spans": [
            {"start": 32, "end": 40, "label": "to_city"},  # spans in any order
            {"start": 10, "end": 19, "label": "from_city"},
            {"start": 21, "end": 28, "label": "country"},  # "Brazil…" ends with the last "." token
        ]},
        {"text": "hello there", "intent": "greet", "spans": []},
    ])
    first, second = read_jsonl_spans(path)
    assert first.words == ("Fly", "from", "São", "Paulo", ",", "Brazil", "…", "…", "…", "to", "New", "York", "!")
    assert first.tags == ("O", "O", "B-from_city", "I-from_city", "O", "B-country", "I-country", "I-country",
                          "I-country", "O", "B-to_city", "I-to_city", "O")
    assert (first.text, first.intent, first.line) == (text, "flight", 1)
    assert (second.tags, second.intent, second.line) == (("O", "O"), "greet", 2)
    # the tags line up with what the service's tokenizer produces for the same raw text
    tokenizer = build_tokenizer([text])
    assert first.token_tags(encode_texts(tokenizer, [text])[0].offsets) == list(first.tags)


def test_jsonl_without_intents_reads_no_intent(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "to Paris", "spans": [{"start": 3, "end": 8, "label": "city"}]}])
    assert read_tagging(path) == [TaggedSentence(("to", "Paris"), ("O", "B-city"), NO_INTENT, raw="to Paris")]


@pytest.mark.parametrize(("row", "problem"), [
    ({"text": "to Boston", "spans": [{"start": 3, "end": 7, "label": "city"}]},
     "span 'city' at 3-7 ('Bost') does not start and end on token boundaries (tokens there: ['Boston'])"),
    ({"text": "to Boston now", "spans": [{"start": 3, "end": 10, "label": "city"}]},
     "span 'city' at 3-10 ('Boston ') does not start and end on token boundaries (tokens there: ['Boston'])"),
    ({"text": "to New York", "spans": [{"start": 3, "end": 11, "label": "city"}, {"start": 7, "end": 11, "label": "x"}]},
     "span 'x' at 7-11 overlaps span 'city' at 3-11"),
    ({"text": "to Boston", "spans": [{"start": 3, "end": 12, "label": "city"}]},
     "span 'city' at 3-12 ends past the text (9 characters)"),
    ({"text": "to Boston", "spans": [{"start": 5, "end": 3, "label": "city"}]},
     "span 'city' at 5-3: expected 0 <= start < end"),
    ({"text": "to Boston", "spans": [{"start": 3, "end": 9}]}, "span {'start': 3, 'end': 9} has no 'label'"),
    ({"text": "to Boston", "spans": [{"start": "3", "end": 9, "label": "city"}]},
     "span {'start': '3', 'end': 9, 'label': 'city'}: start and end must be integers"),
    ({"spans": []}, "missing field 'text'"),
    ({"text": "  ", "spans": []}, "field 'text' must be a non-empty string, found '  '"),
    ({"text": "to Boston"}, "missing field 'spans' (use [] for a text without entities)"),
    ({"text": "to Boston", "entities": []}, "missing field 'spans' (use [] for a text without entities)"),
    ('{"text": "to Boston", ', "not valid JSON (Expecting property name enclosed in double quotes at column 23)"),
    ('["to Boston"]', "expected a JSON object, found list"),
])
def test_malformed_jsonl_spans_name_file_and_line(tmp_path: Path, row: object, problem: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"text": "fine", "spans": []}, "", row])
    assert data_error(read_tagging, path) == f"{path}:3: {problem}"


def test_intent_on_some_lines_only_is_refused(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "spans": []}, {"text": "b", "spans": [], "intent": "x"}])
    assert data_error(read_tagging, path) == f"{path}:1: missing field 'intent' (line 2 has one)"


def test_format_and_kind_must_match(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [{"text": "a", "label": "x"}])
    assert data_error(read_tagging, path, "csv") == (
        f"{path}: format 'csv' is not one of tagging data (auto, seq, conll, jsonl)")
    assert data_error(read_labelled, path, "conll") == (
        f"{path}: format 'conll' is not one of classification data (auto, csv, jsonl)")


def test_atis_rows_written_as_jsonl_spans_and_conll_read_back_to_the_same_tokens_and_tags(
    data_root: Path, tmp_path: Path
) -> None:
    atis = read_tagging(data_root / "atis" / "train")
    rows, conll = [], []
    for sentence in atis:
        starts = [sum(len(word) + 1 for word in sentence.words[:index]) for index in range(len(sentence.words))]
        spans = [{"start": starts[first], "end": starts[last] + len(sentence.words[last]), "label": slot}
                 for slot, first, last in bio_spans(sentence.tags)]
        rows.append({"text": sentence.text, "spans": spans, "intent": sentence.intent})
        conll += [f"# intent: {sentence.intent}", *(f"{w} {t}" for w, t in zip(sentence.words, sentence.tags)), ""]
    from_jsonl = read_tagging(write_jsonl(tmp_path / "atis.jsonl", rows))
    (tmp_path / "atis.conll").write_text("\n".join(conll), encoding="utf-8")
    from_conll = read_tagging(tmp_path / "atis.conll")
    assert from_conll == atis
    tokenizer = build_tokenizer([s.text for s in atis])
    offsets = [e.offsets for e in encode_texts(tokenizer, [s.text for s in atis])]

    def token_view(sentences: list[TaggedSentence]) -> list[tuple[list[str], list[str], str]]:
        return [([s.text[a:b] for a, b in o], s.token_tags(o), s.intent) for s, o in zip(sentences, offsets, strict=True)]

    assert token_view(from_jsonl) == token_view(atis)
    assert sum(len(s.tags) for s in from_jsonl) > sum(len(s.tags) for s in atis)  # "what's" is two tokens


def test_dev_labels_unseen_in_train_are_named_with_their_first_line(data_root: Path) -> None:
    dev = data_root / "atis" / "dev"
    assert unseen_in_train(read_tagging(data_root / "atis" / "train"), read_tagging(dev), str(dev)) == [
        f"{dev / 'seq.out'}:17: tag 'I-return_date.day_number' never occurs in training (1 in dev): it can only "
        "be counted wrong",
        f"{dev / 'label'}:418: intent 'atis_airfare#atis_flight_time' never occurs in training (1 in dev): it can "
        "only be counted wrong",
    ]


# --- classifier JSONL ----------------------------------------------------------------------------------


def test_classifier_jsonl_with_named_fields_and_integer_labels(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [{"id": 1, "Body": "good, really", "stars": 5},
                                                  {"id": 2, "Body": "meh", "stars": "1", "extra": [1]}])
    assert read_labelled(path, text_column="body", label_column="Stars") == [
        LabelledText("good, really", "5"), LabelledText("meh", "1")]
    assert read_labelled(path, "jsonl", "body", "stars", {"1": "bad", "5": "good"}) == [
        LabelledText("good, really", "good"), LabelledText("meh", "bad")]


def test_classifier_jsonl_finds_the_usual_field_names(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "train.jsonl", [{"text": "fine", "label": "pos"}])
    assert read_labelled(path) == [LabelledText("fine", "pos", 1)]


@pytest.mark.parametrize(("row", "problem"), [
    ({"text": "meh"}, "missing field 'label'"),
    ({"text": "meh", "label": ["a", "b"]}, "field 'label' must be one label (a string or an integer), found ['a', 'b']"),
    ({"text": "meh", "label": True}, "field 'label' must be one label (a string or an integer), found True"),
    ({"text": "", "label": "x"}, "field 'text' must be a non-empty string, found ''"),
    ("not json", "not valid JSON (Expecting value at column 1)"),
])
def test_malformed_classifier_jsonl_names_file_and_line(tmp_path: Path, row: object, problem: str) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"text": "fine", "label": "pos"}, {"text": "ok", "label": "neg"}, row])
    assert data_error(read_labelled, path) == f"{path}:3: {problem}"


def test_classifier_jsonl_without_a_text_field_names_the_first_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [{"body": "fine", "label": "pos"}])
    assert data_error(read_labelled, path) == (
        f"{path}:1: no text field 'sentence' or 'text' or 'review' or 'content' in ['body', 'label']")
