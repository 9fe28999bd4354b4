"""Pretrained word vectors as the starting point of a model's word embeddings (`--vectors FILE`).

A vectors source is anything that yields (line, word, row) in its file's order, plus its dimension. The
word2vec, GloVe and fastText text formats (`.gz` too) are one such source; another (say a `.npy` matrix
with a word list) only needs its own `open_*` function registered in `SOURCES`. All three text formats
list words most frequent first, so "the N most frequent words" are the first N in file order.

Words are matched through the bundle tokenizer's own normalisation (NFKC, lower case): `Paris` in the
file starts the embedding of the token `paris`; when several forms normalise alike, the first (most
frequent) one wins. The chosen rows end up inside the exported TorchScript module's embedding, so a
bundle never needs the vectors file again.
"""

from __future__ import annotations

import gzip
from functools import partial
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from model.manifest import PAD_ID, PAD_TOKEN, UNK_TOKEN, VectorsInfo, sha256_file
from training.data import DataError

SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN)
Row = Callable[[], np.ndarray]  # parsed only when the word is kept: most rows of a large file are not


@dataclass(frozen=True)
class VectorSource:
    path: Path
    dim: int
    rows: Callable[[], Iterator[tuple[int, str, Row]]]


def open_vectors(path: Path) -> VectorSource:
    """The source for `path`, chosen by its suffix (text formats for anything not registered)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, None, "vectors file not found")
    suffix = path.suffix.lower()
    return SOURCES.get(suffix, open_text_vectors)(path)


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


SOURCES: dict[str, Callable[[Path], VectorSource]] = {}  # suffix → opener, for formats other than text


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
            file=self.source.path.name, dim=self.source.dim, sha256=sha256_file(self.source.path),
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
    matrix as it starts, so extra words stay in the same space as the words training sees."""
    vocabulary = tokenizer.get_vocab()
    rows = [*picked.known.items(), *picked.extra]
    with torch.no_grad():
        if rows:
            values = torch.from_numpy(np.stack([vector for _, vector in rows]))
            embedding.weight.normal_(0.0, float(values.std()))
            embedding.weight[torch.tensor([vocabulary[word] for word, _ in rows])] = values
        embedding.weight[PAD_ID] = 0.0
    embedding.weight.requires_grad_(not freeze)

