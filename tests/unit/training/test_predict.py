"""`python -m training predict`: a file labelled by a committed bundle, as the service labels it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.conftest import REPO
from training.cli import main
from training.table_data import read_labelled_table
from training.tagging_data import read_tagging

FLIGHT = "I want to fly from Taipei to Boston next Monday"  # the README's example, answered by model/atis


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_tagger_labels_a_100_line_text_file(data_root: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    dev = [s.text for s in read_tagging(data_root / "atis" / "dev")][:98]
    texts = tmp_path / "requests.txt"
    texts.write_text("\n".join([FLIGHT, "", *dev, "  ", "cheap flights ✈️ from 東京 to Seattle"]) + "\n",
                     encoding="utf-8")
    out = tmp_path / "predicted.jsonl"
    assert main(["predict", str(REPO / "model" / "atis"), str(texts), "--out", str(out), "--batch-size", "32"]) == 0
    assert capsys.readouterr().out == ""  # no gold labels in a .txt file: no metrics
    rows = read_rows(out)
    assert [row["line"] for row in rows] == [1, *range(3, 101), 102]  # blank lines skipped, lines kept
    assert [row["text"] for row in rows] == [FLIGHT, *dev, "cheap flights ✈️ from 東京 to Seattle"]
    first = rows[0]
    assert first["intent"] == "atis_flight"
    assert [(s["label"], FLIGHT[s["start"] : s["end"]]) for s in first["spans"]] == [
        ("fromloc.city_name", "Taipei"), ("toloc.city_name", "Boston"),
        ("depart_date.date_relative", "next"), ("depart_date.day_name", "Monday")]
    # the output is JSONL with character spans: it reads back as tagging data (e.g. to correct and retrain)
    again = read_tagging(out)
    assert len(again) == 100 and again[0].intent == "atis_flight"
    assert again[0].tags[4:] == ("O", "B-fromloc.city_name", "O", "B-toloc.city_name",
                                 "B-depart_date.date_relative", "B-depart_date.day_name")


def test_gold_labels_in_the_input_print_the_metrics_of_evaluate(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (data_root / "sst2" / "dev.tsv").read_text(encoding="utf-8").split("\n")
    data = tmp_path / "dev100.tsv"
    data.write_text("\n".join(lines[:101]) + "\n", encoding="utf-8")
    bundle = REPO / "model" / "sentiment"
    assert main(["evaluate", str(bundle), str(data)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    out = tmp_path / "predicted.jsonl"
    assert main(["predict", str(bundle), str(data), "--out", str(out)]) == 0
    label_metrics = {key: value for key, value in evaluated.items() if key not in ("calibration", "abstention")}
    assert json.loads(capsys.readouterr().out) == label_metrics and evaluated["examples"] == 100
    rows = read_rows(out)
    gold = read_labelled_table(data, label_names={"0": "negative", "1": "positive"})
    assert [row["line"] for row in rows] == list(range(2, 102))  # line 1 is the header
    correct = sum(row["label"] == example.label for row, example in zip(rows, gold, strict=True))
    assert correct == evaluated["accuracy"]  # 100 examples: the percentage is the count
    assert all(set(row["scores"]) == {"negative", "positive"} and row["score"] == max(row["scores"].values())
               for row in rows)
    assert {row["abstained"] for row in rows} == {False}  # sentiment has no abstention rule


def test_predict_missing_bundle_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["predict", str(tmp_path / "none"), str(tmp_path / "in.txt"), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'none'}: bundle folder not found\n"


def test_a_long_line_is_read_whole_as_the_service_reads_it(tmp_path: Path) -> None:
    long_request = "show me the flights and the fares please " * 36 + "from boston to denver"  # 292 tokens
    texts = tmp_path / "long.txt"
    texts.write_text(long_request + "\n", encoding="utf-8")
    out = tmp_path / "predicted.jsonl"
    assert main(["predict", str(REPO / "model" / "atis"), str(texts), "--out", str(out)]) == 0
    (row,) = read_rows(out)
    spans = [(s["label"], s["start"], long_request[s["start"] : s["end"]]) for s in row["spans"]]
    assert spans[-2:] == [("fromloc.city_name", 1481, "boston"), ("toloc.city_name", 1491, "denver")]  # tokens 290, 292
