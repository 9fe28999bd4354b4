"""Build the word-level tokenizer saved in every bundle as `tokenizer.json`.

Normalisation (NFKC, curly apostrophes, lower case) and splitting live only in that file, so training and
serving tokenise identically. Splitting follows the Penn Treebank habits of the datasets (`is n't`,
`it 's`, punctuation on its own), so raw user text such as `Boston,` or `isn't` meets the same tokens
the model was trained on, and every token keeps offsets into the raw text.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer

from model.manifest import PAD_TOKEN, UNK_TOKEN
from model.text import encode_texts

# Contractions first so "isn't" splits as "is" + "n't"; then every other non-word character alone.
SPLIT_PATTERN = r"n't\b|'(?:s|re|ve|ll|d|m)\b|[^\w\s]"


def new_tokenizer(vocabulary: dict[str, int] | None = None) -> Tokenizer:
    tokenizer = Tokenizer(WordLevel(vocabulary or {PAD_TOKEN: 0, UNK_TOKEN: 1}, unk_token=UNK_TOKEN))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace("\u2019", "'"), normalizers.Replace("\u2018", "'"), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated")]
    )
    return tokenizer


def build_tokenizer(texts: Iterable[str], min_frequency: int = 1, max_vocab: int = 50_000) -> Tokenizer:
    """Word vocabulary from the training split; [PAD] is id 0 and [UNK] id 1 (see model.manifest)."""
    tokenizer = new_tokenizer()
    trainer = WordLevelTrainer(
        vocab_size=max_vocab, min_frequency=min_frequency, special_tokens=[PAD_TOKEN, UNK_TOKEN], show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer


def with_words(tokenizer: Tokenizer, words: Iterable[str]) -> Tokenizer:
    """The tokenizer with `words` appended to its vocabulary (ids after the existing ones), e.g. words
    that come with pretrained vectors but never occur in the training split."""
    vocabulary = tokenizer.get_vocab()
    for word in words:
        vocabulary.setdefault(word, len(vocabulary))
    return new_tokenizer(vocabulary)


def word_index_of_tokens(words: Sequence[str], offsets: Sequence[tuple[int, int]]) -> list[int]:
    """For each token of `" ".join(words)`, the index of the dataset word it lies in."""
    starts = []
    position = 0
    for word in words:
        starts.append(position)
        position += len(word) + 1
    return [bisect_right(starts, start) - 1 for start, _ in offsets]


def token_tags(words: Sequence[str], tags: Sequence[str], offsets: Sequence[tuple[int, int]]) -> list[str]:
    """Spread word-level BIO tags over tokens: a word's first token keeps its tag, later tokens of the
    same word continue it (`I-x`, or `O`), so `what's` tagged `B-x` becomes `what`/B-x `'s`/I-x."""
    result = []
    previous_word = -1
    for word in word_index_of_tokens(words, offsets):
        tag = tags[word]
        result.append(tag if word != previous_word or tag == "O" else "I-" + tag[2:])
        previous_word = word
    return result


def word_tags(words: Sequence[str], token_level: Sequence[str], offsets: Sequence[tuple[int, int]]) -> list[str]:
    """Back to the dataset's words: each word takes its first token's tag (like BERT's first sub-word),
    so slot F1 is computed on the words the dataset was labelled on. A word with no token (cut by
    `max_seq_len`) gets `O`."""
    result = ["O"] * len(words)
    seen: set[int] = set()
    for word, tag in zip(word_index_of_tokens(words, offsets), token_level):
        if word not in seen:
            seen.add(word)
            result[word] = tag
    return result


def token_offsets(texts: Sequence[str]) -> list[list[tuple[int, int]]]:
    """[start, end) of every token of each text, as any bundle's tokenizer splits it: splitting and
    normalisation do not depend on the vocabulary, so an empty one finds the same tokens."""
    return [encoded.offsets for encoded in encode_texts(new_tokenizer(), texts)]


def span_tags(text: str, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int, str]]) -> list[str]:
    """BIO tags of the tokens at `offsets` from character spans (start, end exclusive, label).

    A span must begin at a token's start and end at a token's end: a span that cuts a token (`Bost|on`,
    or one that includes a trailing space) would teach the model a boundary the service can never
    produce. ValueError names the span and what is wrong."""
    tags = ["O"] * len(offsets)
    # tokens can share offsets (NFKC turns "…" into three "." tokens of one character): a span starts
    # at the first token with its start and ends at the last token with its end
    starts = {start: index for index, (start, _) in reversed(list(enumerate(offsets)))}
    ends = {end: index for index, (_, end) in enumerate(offsets)}
    previous: tuple[int, int, str] | None = None
    for start, end, label in sorted(spans):
        shown = f"span {label!r} at {start}-{end}"
        if not 0 <= start < end:
            raise ValueError(f"{shown}: expected 0 <= start < end")
        if end > len(text):
            raise ValueError(f"{shown} ends past the text ({len(text)} characters)")
        if previous is not None and start < previous[1]:
            raise ValueError(f"{shown} overlaps span {previous[2]!r} at {previous[0]}-{previous[1]}")
        if start not in starts or end not in ends:
            tokens = [text[a:b] for a, b in offsets if a < end and b > start]
            raise ValueError(f"{shown} ({text[start:end]!r}) does not start and end on token boundaries "
                             f"(tokens there: {tokens})")
        first, last = starts[start], ends[end]
        tags[first : last + 1] = [f"B-{label}"] + [f"I-{label}"] * (last - first)
        previous = (start, end, label)
    return tags
