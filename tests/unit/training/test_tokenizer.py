"""Tokenizer: offsets slice back to the raw text; dataset words ↔ tokens alignment; file round trip."""

from __future__ import annotations

from pathlib import Path

from model.manifest import PAD_ID, UNK_ID
from model.text import encode_texts, load_tokenizer
from training.tokenizer import build_tokenizer, token_tags, word_tags

RAW = "  Isn't   Boston, MA\u2019s CAF\u00c9\u2026 na\u00efve \ufb01ne  \u00dcn\u00efc\u00f6d\u00e9 \u6771\u4eac"


def test_offsets_slice_back_to_the_raw_text() -> None:
    tokenizer = build_tokenizer(["isn't boston , ma 's café ... naïve fine"])
    encoded = encode_texts(tokenizer, [RAW])[0]
    slices = [RAW[start:end] for start, end in encoded.offsets]
    assert slices == ["Is", "n't", "Boston", ",", "MA", "\u2019s", "CAF\u00c9", "\u2026", "\u2026", "\u2026",
                      "na\u00efve", "\ufb01ne", "\u00dcn\u00efc\u00f6d\u00e9", "\u6771\u4eac"]
    normalised = [tokenizer.normalizer.normalize_str(piece) for piece in slices]
    assert normalised == ["is", "n't", "boston", ",", "ma", "'s", "café", "...", "...", "...", "naïve", "fine",
                          "ünïcödé", "東京"]
    vocab = tokenizer.get_vocab()
    assert encoded.ids == [vocab[t] for t in ["is", "n't", "boston", ",", "ma", "'s", "café", ".", ".", "."]] + [
        vocab["naïve"], vocab["fine"], UNK_ID, UNK_ID]


def test_special_ids_are_fixed() -> None:
    tokenizer = build_tokenizer(["a b"])
    assert (tokenizer.token_to_id("[PAD]"), tokenizer.token_to_id("[UNK]")) == (PAD_ID, UNK_ID)


def test_saved_tokenizer_encodes_identically(tmp_path: Path) -> None:
    tokenizer = build_tokenizer(["what's the fare to boston", "show flights"])
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    tokenizer.enable_truncation(4)  # as training cuts its texts; a saved bundle reads every token
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    tokenizer.no_truncation()
    before, after = encode_texts(tokenizer, [RAW, "What's the fare?"]), encode_texts(loaded, [RAW, "What's the fare?"])
    assert [e.ids for e in before] == [e.ids for e in after] and len(after[0].ids) > 4
    assert [e.offsets for e in before] == [e.offsets for e in after]


def test_token_tags_continue_the_words_slot() -> None:
    words, tags = ("what's", "fares", "to", "st.", "louis"), ("O", "O", "O", "B-city", "I-city")
    tokenizer = build_tokenizer([" ".join(words)])
    offsets = encode_texts(tokenizer, [" ".join(words)])[0].offsets
    assert token_tags(words, tags, offsets) == ["O", "O", "O", "O", "B-city", "I-city", "I-city"]


def test_word_tags_take_each_words_first_token() -> None:
    words = ("i'd", "leave", "at", "8", "o'clock")
    tokenizer = build_tokenizer([" ".join(words)])
    offsets = encode_texts(tokenizer, [" ".join(words)])[0].offsets
    assert [" ".join(words)[start:end] for start, end in offsets] == ["i", "'d", "leave", "at", "8", "o", "'", "clock"]
    predicted = ["O", "B-x", "O", "O", "B-time", "I-time", "O", "B-y"]
    assert word_tags(words, predicted, offsets) == ["O", "O", "O", "B-time", "I-time"]


def test_words_cut_by_max_seq_len_are_tagged_o() -> None:
    words = ("a", "b", "c")
    assert word_tags(words, ["B-x"], [(0, 1)]) == ["B-x", "O", "O"]

