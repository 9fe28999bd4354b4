"""Download against local copies through file:// URLs (no network here): layout and SST-2 conversion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.cli import main
from training.download import JOINTBERT, OOS_EVAL, SIF, download
from training.outliers import read_texts


def mirror(root: Path, files: dict[str, bytes]) -> str:
    """Lay out files the way the raw-file host serves them and return its file:// base URL."""
    for relative, content in files.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_bytes(content)
    return root.as_uri()


def test_atis_is_copied_byte_for_byte(data_root: Path, tmp_path: Path) -> None:
    local = {f"{split}/{name}": (data_root / "atis" / "dev" / name).read_bytes()
             for split in ("train", "dev", "test") for name in ("seq.in", "seq.out", "label")}
    base = mirror(tmp_path / "host", {f"{JOINTBERT}/atis/{key}": value for key, value in local.items()})
    written = download("atis", tmp_path / "data", base_url=base)
    assert len(written) == 9
    assert {str(path.relative_to(tmp_path / "data" / "atis")): path.read_bytes() for path in written} == local


def test_sst2_gets_a_header_and_loses_the_space_before_the_tab(data_root: Path, tmp_path: Path) -> None:
    dev = (data_root / "sst2" / "dev.tsv").read_text(encoding="utf-8")
    sif_form = "".join(line.replace("\t", " \t") + "\n" for line in dev.splitlines()[1:])  # as published
    base = mirror(tmp_path / "host", {f"{SIF}/sentiment-{split}": sif_form.encode() for split in ("train", "dev", "test")})
    download("sst2", tmp_path / "data", base_url=base)
    assert (tmp_path / "data" / "sst2" / "dev.tsv").read_text(encoding="utf-8") == dev
    assert sorted(p.name for p in (tmp_path / "data" / "sst2").iterdir()) == ["dev.tsv", "test.tsv", "train_phrases.tsv"]


def test_unreachable_source_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = (tmp_path / "empty").as_uri()
    assert main(["download", "snips", "--out", str(tmp_path / "data"), "--base-url", empty]) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: cannot fetch {(tmp_path / 'empty').as_uri()}/{JOINTBERT}/snips/train/seq.in: ")
    assert error.count("\n") == 1
    assert not (tmp_path / "data" / "snips" / "train" / "seq.in").exists()


def test_clinc150_splits_become_csv_with_their_oos_queries_last(data_root: Path, tmp_path: Path) -> None:
    """data_full.json, laid out as clinc/oos-eval publishes it, → the text,label CSVs the classifier reads."""
    published = {
        "train": [["how do i say hello in french", "translate"], ['what is "apr", please', "apr"]],
        "oos_train": [["how old is the moon", "oos"]],
        "val": [["say hi in german", "translate"]], "oos_val": [["who won the game", "oos"]],
        "test": [["what's my apr", "apr"]], "oos_test": [["tell me about whales, please", "oos"]],
    }
    base = mirror(tmp_path / "host", {f"{OOS_EVAL}/data_full.json": json.dumps(published).encode()})
    written = download("clinc150", tmp_path / "data", base_url=base)
    assert sorted(path.name for path in written) == ["dev.csv", "test.csv", "train.csv"]
    train = tmp_path / "data" / "clinc150" / "train.csv"
    assert train.read_text(encoding="utf-8") == (
        'text,label\nhow do i say hello in french,translate\n"what is ""apr"", please",apr\nhow old is the moon,oos\n')
    examples = read_texts(train)  # the classifier's reader takes the files as written
    assert examples == ["how do i say hello in french", 'what is "apr", please', "how old is the moon"]
    assert read_texts(train, {"oos"}) == examples[:2]
    # the copy the tests read has the same layout
    assert (data_root / "clinc150" / "dev.csv").read_text(encoding="utf-8").startswith("text,label\n")
