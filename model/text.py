"""Pure text helpers shared by training, evaluation and serving, so the two sides can never disagree.

Raw text goes in once through the bundle's `tokenizer.json` (normalisation and splitting live only
there); what comes back are token ids plus character offsets into the text exactly as the user sent it.
Model outputs (BIO tags per token) come back out as character spans over that same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from model.manifest import PAD_ID, UNK_ID


@dataclass(frozen=True, slots=True)
class EncodedText:
    """Token ids of one text and, per token, its [start, end) character offsets in the raw text."""

    ids: list[int]
    offsets: list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class ModelInputs:
    """One padded batch on the CPU. `lengths` stays on the CPU: packing needs it there."""

    ids: torch.Tensor  # [B, T] int64, PAD_ID after each text's length
    lengths: torch.Tensor  # [B] int64, at least 1
    chars: torch.Tensor | None  # [B, T, W] int64 UTF-8 bytes of each token, 0-padded (taggers only)


@dataclass(frozen=True, slots=True)
class SlotSpan:
    """One entity: its slot, [start, end) character offsets in the raw text, and its score (the mean of
    its tokens' tag probabilities)."""

    slot: str
    start: int
    end: int
    score: float


def load_tokenizer(path: Path) -> Tokenizer:
    """Load a bundle's tokenizer, which reads every token of a text: a BiLSTM has no positional limit,
    so a long text is read whole (its cost grows with its length) and never silently cut."""
    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()
    tokenizer.no_truncation()
    return tokenizer


def encode_texts(tokenizer: Tokenizer, texts: Sequence[str]) -> list[EncodedText]:
    """Tokenise a batch in one call; the tokenizer adds no special tokens (none are used)."""
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    return [EncodedText(enc.ids, enc.offsets) for enc in encodings]


def word_bytes(text: str, offsets: Sequence[tuple[int, int]], width: int) -> bytes:
    """Lower-cased UTF-8 bytes of each token, cut or zero-padded to `width`: the tagger's character input.

    Bytes need no vocabulary, so a word never seen in training still reaches the character encoder.
    """
    return b"".join(text[start:end].lower().encode("utf-8")[:width].ljust(width, b"\0") for start, end in offsets)


def pad_batch(
    encoded: Sequence[EncodedText], texts: Sequence[str] | None = None, word_chars: int | None = None
) -> ModelInputs:
    """Build one padded batch. A text with no tokens gets one PAD token so packing never sees length 0.

    Rows are filled through one boolean mask over the [B, T] grid (row-major, like the concatenated
    token lists), so the only per-token Python work left is cutting each token's bytes.
    """
    counts = np.fromiter((len(e.ids) for e in encoded), dtype=np.int64, count=len(encoded))
    lengths = np.maximum(counts, 1)
    width = int(lengths.max(initial=1))
    real = np.arange(width)[None, :] < counts[:, None]  # [B, T]
    ids = np.full(real.shape, PAD_ID, dtype=np.int64)
    ids[real] = np.fromiter(chain.from_iterable(e.ids for e in encoded), dtype=np.int64, count=int(counts.sum()))
    chars = None
    if word_chars is not None:
        if texts is None:
            raise ValueError("texts are needed to build character inputs")
        raw = b"".join(word_bytes(text, e.offsets, word_chars) for text, e in zip(texts, encoded, strict=True))
        grid = np.zeros((*real.shape, word_chars), dtype=np.uint8)
        grid[real] = np.frombuffer(raw, dtype=np.uint8).reshape(-1, word_chars)
        chars = torch.from_numpy(grid).long()
    return ModelInputs(torch.from_numpy(ids), torch.from_numpy(lengths), chars)


def occlude(inputs: ModelInputs, rows: Sequence[int], tokens: Sequence[int]) -> None:
    """Mask token `tokens[k]` of row `rows[k]` to the unknown word, in place: [UNK] id and, for a tagger,
    no bytes, so neither the word nor its spelling reaches the model (an occlusion explanation's variant)."""
    if not rows:
        return
    index = (torch.as_tensor(rows), torch.as_tensor(tokens))
    inputs.ids[index] = UNK_ID
    if inputs.chars is not None:
        inputs.chars[index] = 0


def bio_allowed(previous: str | None, tag: str) -> bool:
    """Whether `tag` may follow `previous` (None = sentence start) in a valid BIO sequence.

    `I-x` only continues a `B-x` or `I-x`; every other tag may follow anything.
    """
    if not tag.startswith("I-"):
        return True
    return previous is not None and previous[2:] == tag[2:] and previous[:2] in ("B-", "I-")


def bio_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """(slot, first token, last token inclusive) of every entity, read the way conlleval reads BIO.

    An `I-x` that does not continue an `x` entity opens a new one, so even an invalid sequence decodes.
    """
    spans: list[tuple[str, int, int]] = []
    current: list = []  # [slot, first, last]
    for index, tag in enumerate(tags):
        slot = tag[2:] if tag[:2] in ("B-", "I-") else None
        if current and (slot is None or tag.startswith("B-") or slot != current[0]):
            spans.append((current[0], current[1], current[2]))
            current = []
        if slot is not None:
            if current:
                current[2] = index
            else:
                current = [slot, index, index]
    if current:
        spans.append((current[0], current[1], current[2]))
    return spans


def slot_spans(offsets: Sequence[tuple[int, int]], tags: Sequence[str], scores: Sequence[float]) -> list[SlotSpan]:
    """Entities as character spans, from the first token's start to the last token's end in the raw text.

    The one place a span's score is computed, for the service and for offline prediction alike.
    """
    return [
        SlotSpan(slot, offsets[first][0], offsets[last][1], sum(scores[first : last + 1]) / (last - first + 1))
        for slot, first, last in bio_spans(tags)
    ]
