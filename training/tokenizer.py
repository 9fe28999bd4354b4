"""Build the word-level tokenizer saved in every bundle as `tokenizer.json`.

Normalisation (NFKC, curly apostrophes, lower case) and splitting live only in that file, so training and
serving tokenise identically. Splitting follows the Penn Treebank habits of the datasets (`is n't`,
`it 's`, punctuation on its own), so raw user text such as `Boston,` or `isn't` meets the same tokens
the model was trained on, and every token keeps offsets into the raw text.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Regex, Tokenizer, normalizers, pre_tokenizers
from tokenizers.models import WordLevel
from tokenizers.trainers import WordLevelTrainer

from model.manifest import PAD_TOKEN, UNK_TOKEN

# Contractions first so "isn't" splits as "is" + "n't"; then every other non-word character alone.
SPLIT_PATTERN = r"n't\b|'(?:s|re|ve|ll|d|m)\b|[^\w\s]"


def new_tokenizer() -> Tokenizer:
    tokenizer = Tokenizer(WordLevel({PAD_TOKEN: 0, UNK_TOKEN: 1}, unk_token=UNK_TOKEN))
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
