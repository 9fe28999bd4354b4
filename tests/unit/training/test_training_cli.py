"""The CLI end to end on a few hundred real sentences, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.unit.conftest import write_seq_folder
from model.runtime import load_bundle
from tests.bundles import export_tiny_classifier
from training.cli import main

TINY = ["--epochs", "1", "--embed-dim", "16", "--hidden-size", "16", "--threads", "1"]


def head_of_seq_folder(source: Path, target: Path, count: int) -> Path:
    """The first `count` sentences of an ATIS-layout folder, written to a temporary folder."""
    parts = [(source / name).read_text(encoding="utf-8").split("\n")[:count] for name in ("seq.in", "seq.out", "label")]
    return write_seq_folder(target, *("\n".join(lines) + "\n" for lines in parts))


def read_json_output(capsys: pytest.CaptureFixture[str]) -> dict:
    return json.loads(capsys.readouterr().out)


def label_metrics(evaluated: dict) -> dict:
    """evaluate's output without its calibration and abstention figures: what the manifest's metrics hold."""
    return {key: value for key, value in evaluated.items() if key not in ("calibration", "abstention")}


def test_slots_train_export_reload_evaluate(data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train = head_of_seq_folder(data_root / "atis" / "train", tmp_path / "train", 300)
    dev = data_root / "atis" / "dev"  # the whole dev split: it holds a tag and an intent unseen in training
    out = tmp_path / "bundles" / "atis-tiny"
    assert main(["tagger", "--train", str(train), "--dev", str(dev), "--out", str(out), *TINY, "--char-filters", "8"]) == 0
    # dev labels training never saw are warned about, with the dev line, before training starts
    assert f"warning: {dev / 'seq.out'}:17: tag 'I-return_date.day_number' never occurs in training" in (
        capsys.readouterr().out)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "tagger" and manifest["training"]["epochs_run"] == 1
    assert sorted(manifest["files"]) == ["confusion_matrix.png", "learning_curves.png", "model.pt", "reliability.png",
                                         "report.md", "tokenizer.json"]
    # every bundle is calibrated on dev and abstains by a rule that still answers 98.5 % of dev
    assert manifest["calibration"]["fitted_on"] == "atis/dev" and manifest["calibration"]["temperature"] > 0
    assert manifest["abstention"]["dev"]["in_scope_answered"] >= 98.5
    capsys.readouterr()
    assert main(["evaluate", str(out), str(dev)]) == 0
    evaluated = read_json_output(capsys)
    calibration, abstention = evaluated.pop("calibration"), evaluated.pop("abstention")
    assert evaluated == {"examples": 500, **manifest["metrics"]["dev"]}
    # the exported bundle, scored on the split it was calibrated on, gives the manifest's figures again
    assert calibration["temperature"] == manifest["calibration"]["temperature"]
    assert calibration["calibrated"] == pytest.approx(manifest["calibration"]["after"], abs=2e-3)
    assert calibration["raw"] == pytest.approx(manifest["calibration"]["before"], abs=2e-3)
    assert abstention == pytest.approx(manifest["abstention"]["dev"], abs=0.21)  # one text of 500 either way
    # only the last two parts of each data path are recorded: no absolute path of the training machine
    assert (manifest["training"]["train"], manifest["training"]["dev"]) == (f"{tmp_path.name}/train", "atis/dev")


def test_sentiment_train_export_reload_evaluate(data_root: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    lines = (data_root / "sst2" / "train.tsv").read_text(encoding="utf-8").split("\n")
    train = tmp_path / "train.tsv"
    train.write_text("\n".join(lines[:301]) + "\n", encoding="utf-8")
    dev = data_root / "sst2" / "dev.tsv"
    out = tmp_path / "sentiment-tiny"
    assert main(["sentiment", "--train", str(train), "--dev", str(dev), "--out", str(out), *TINY]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"] == {"classes": ["0", "1"]}
    capsys.readouterr()
    assert main(["evaluate", str(out), str(dev)]) == 0
    assert label_metrics(read_json_output(capsys)) == {"examples": 872, **manifest["metrics"]["dev"]}


def test_label_names_become_the_classes_and_evaluate_maps_gold_labels(
    data_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (data_root / "sst2" / "train.tsv").read_text(encoding="utf-8").split("\n")
    train = tmp_path / "train.tsv"
    train.write_text("\n".join(lines[:301]) + "\n", encoding="utf-8")
    dev = data_root / "sst2" / "dev.tsv"
    out = tmp_path / "sentiment-named"
    assert main(["sentiment", "--train", str(train), "--dev", str(dev), "--out", str(out), *TINY,
                 "--label-names", "0=negative,1=positive"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["labels"] == {"classes": ["negative", "positive"]}
    assert manifest["training"]["label_names"] == {"0": "negative", "1": "positive"}
    assert manifest["example"]["labels"][0] in ("negative", "positive")
    capsys.readouterr()
    # dev.tsv holds 0/1: evaluate reads the mapping from the manifest, so the figure is the training one
    assert main(["evaluate", str(out), str(dev)]) == 0
    assert label_metrics(read_json_output(capsys)) == {"examples": 872, **manifest["metrics"]["dev"]}
    # a copy already written with the class names scores the same
    named = tmp_path / "dev-named.tsv"
    dev_lines = dev.read_text(encoding="utf-8").split("\n")
    named.write_text("\n".join([dev_lines[0]] + [line[:-1] + ("positive" if line.endswith("1") else "negative")
                                                 for line in dev_lines[1:] if line]) + "\n", encoding="utf-8")
    assert main(["evaluate", str(out), str(named)]) == 0
    assert label_metrics(read_json_output(capsys)) == {"examples": 872, **manifest["metrics"]["dev"]}
    # a label the mapping does not know is one line naming file and line
    odd = tmp_path / "odd.tsv"
    odd.write_text("sentence\tlabel\nfine\t1\nmeh\t2\n", encoding="utf-8")
    assert main(["evaluate", str(out), str(odd)]) == 2
    assert capsys.readouterr().err == (
        f"error: {odd}:3: label '2' has no class name (label names given for '0', '1', 'negative', 'positive')\n")


def test_malformed_label_names_option_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["sentiment", "--train", "t.tsv", "--dev", "d.tsv", "--out", str(tmp_path), "--label-names", "0=neg,1"])
    assert exit_.value.code == 2
    assert "expected RAW=NAME pairs separated by commas, got '1'" in capsys.readouterr().err


def test_members_are_trained_with_consecutive_seeds_and_exported_as_one(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + "".join(f"film {i} was {'good' if i % 2 else 'bad'},{i % 2}\n" for i in range(40)))
    assert main(["sentiment", "--train", str(data), "--dev", str(data), "--out", str(tmp_path / "single"), *TINY,
                 "--seed", "5", "--members", "1"]) == 0
    assert main(["sentiment", "--train", str(data), "--dev", str(data), "--out", str(tmp_path / "pair"), *TINY,
                 "--seed", "5", "--members", "2"]) == 0
    single = torch.jit.load(str(tmp_path / "single" / "model.pt")).state_dict()
    pair = torch.jit.load(str(tmp_path / "pair" / "model.pt")).state_dict()
    assert all(torch.equal(value, pair[f"members.0.{key}"]) for key, value in single.items())  # member 0 = seed 5
    assert not torch.equal(pair["members.0.head.weight"], pair["members.1.head.weight"])
    manifest = json.loads((tmp_path / "pair" / "manifest.json").read_text())
    assert manifest["training"]["members"] == 2 and manifest["parameters"] == 2 * json.loads(
        (tmp_path / "single" / "manifest.json").read_text())["parameters"]
    assert "seed 6:" in (tmp_path / "pair" / "report.md").read_text()


def test_same_seed_gives_the_same_model(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + "".join(f"film {i} was {'good' if i % 2 else 'bad'},{i % 2}\n" for i in range(40)))
    states = []
    for name in ("a", "b"):
        assert main(["sentiment", "--train", str(data), "--dev", str(data), "--out", str(tmp_path / name), *TINY]) == 0
        states.append(torch.jit.load(str(tmp_path / name / "model.pt")).state_dict())
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])


def test_missing_training_path_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope"
    assert main(["slots", "--train", str(missing), "--dev", str(missing), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"error: {missing}: not found\n"


def test_malformed_data_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_seq_folder(tmp_path / "bad", "a b\n", "O\n", "x\n")
    assert main(["slots", "--train", str(folder), "--dev", str(folder), "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == f"error: {folder / 'seq.out'}:1: 1 tags for 2 words in seq.in\n"


def test_evaluate_missing_bundle_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path / "none"), str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: {tmp_path / 'none'}: bundle folder not found\n"


def test_evaluate_folder_without_bundle_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path), str(tmp_path)]) == 2
    assert capsys.readouterr().err == f"error: bundle '{tmp_path.name}': manifest.json is missing\n"


def test_help_lists_the_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    usage = capsys.readouterr().out
    assert all(command in usage for command in ("classifier", "tagger", "sentiment", "slots", "evaluate", "download"))


def test_dry_run_checks_and_summarises_without_training(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    train, dev = tmp_path / "train.jsonl", tmp_path / "dev.jsonl"
    train.write_text(
        '{"text": "fly to Paris", "intent": "flight", "spans": [{"start": 7, "end": 12, "label": "city"}]}\n'
        '{"text": "fares to New  York!", "intent": "fare", "spans": [{"start": 9, "end": 18, "label": "city"}]}\n',
        encoding="utf-8")
    dev.write_text('{"text": "fly Monday", "intent": "flight", "spans": [{"start": 4, "end": 10, "label": "day"}]}\n',
                   encoding="utf-8")
    out = tmp_path / "bundle"
    assert main(["tagger", "--train", str(train), "--dev", str(dev), "--out", str(out), "--dry-run",
                 "--max-seq-len", "4"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"train ({train}): 2 sentences, 8 tokens, longest 5 (1 cut at --max-seq-len 4)",
        "  intents (2): flight 1, fare 1",
        "  slots (entities) (1): city 2",
        f"dev ({dev}): 1 sentences, 2 tokens, longest 2",
        "  intents (1): flight 1",
        "  slots (entities) (1): day 1",
        "dev labels never seen in training: 1",
        f"  {dev}:1: tag 'B-day' never occurs in training (1 in dev): it can only be counted wrong",
    ]
    assert not out.exists()
    # a malformed line is found by the dry run too, as one line naming file and line
    dev.write_text('{"text": "fly Monday", "spans": [{"start": 4, "end": 9, "label": "day"}]}\n', encoding="utf-8")
    assert main(["tagger", "--train", str(train), "--dev", str(dev), "--out", str(out), "--dry-run"]) == 2
    assert capsys.readouterr().err == (f"error: {dev}:1: span 'day' at 4-9 ('Monda') does not start and end on token "
                                       "boundaries (tokens there: ['Monday'])\n")


def test_calibrate_gives_an_exported_bundle_a_temperature_and_keeps_every_label(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = export_tiny_classifier(tmp_path / "sentiment", seed=3, version="1.0")
    dev = tmp_path / "dev.csv"
    dev.write_text("text,label\n" + "".join(f"{text},{label}\n" for text, label in (
        ("what a great film", "positive"), ("dull and boring", "negative"), ("i want to fly from boston", "negative"),
        ("show me fares to dallas", "positive"))), encoding="utf-8")
    texts = ["what a great film", "dull and boring", "a film"]
    before = load_bundle(bundle).predict(texts)
    for _ in range(2):  # calibrating again replaces the section, it does not add one
        assert main(["calibrate", str(bundle), str(dev), "--answer-rate", "0.5"]) == 0
    calibrated = load_bundle(bundle)  # checksums, example and all: as the service loads it
    manifest = calibrated.manifest
    assert manifest.version != "1.0" and manifest.calibration is not None and manifest.abstention is not None
    assert [p.label for p in calibrated.predict(texts)] == [p.label for p in before]
    assert (bundle / "report.md").read_text(encoding="utf-8").count("## Calibration and abstention") == 1
    assert "reliability.png" in manifest.files and not list(tmp_path.glob(".sentiment*"))
    assert f'"version": "{manifest.version}"' in capsys.readouterr().out