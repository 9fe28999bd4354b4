"""Tiny, untrained bundles exported by the real export code, for tests that need a bundle to break."""

from __future__ import annotations

from pathlib import Path

import torch

from model.manifest import Labels
from training.export import export_bundle
from training.models import BiLSTMClassifier, BiLSTMTagger
from training.tokenizer import build_tokenizer

TEXTS = ["i want to fly from boston to denver", "show me fares to dallas", "what a great film", "dull and boring"]
SLOT_TAGS = ["O", "B-fromloc.city_name", "I-fromloc.city_name", "B-toloc.city_name", "I-toloc.city_name"]


def export_tiny_tagger(out_dir: Path, seed: int = 0, version: str | None = None) -> Path:
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(TEXTS)
    model = BiLSTMTagger(tokenizer.get_vocab_size(), SLOT_TAGS, 2, embed_dim=16, byte_dim=8, char_filters=8, hidden_size=16)
    export_bundle(
        model, tokenizer, out_dir, kind="tagger", labels=Labels(intents=["atis_flight", "atis_airfare"], slot_tags=SLOT_TAGS),
        max_seq_len=64, max_word_chars=12, training_config={"tiny": True}, metrics={"dev": {"slot_f1": 0.0}},
        parity_texts=TEXTS, version=version,
    )
    return out_dir


def export_tiny_classifier(out_dir: Path, seed: int = 0, version: str | None = None) -> Path:
    torch.manual_seed(seed)
    tokenizer = build_tokenizer(TEXTS)
    model = BiLSTMClassifier(tokenizer.get_vocab_size(), 2, embed_dim=16, hidden_size=16)
    export_bundle(
        model, tokenizer, out_dir, kind="classifier", labels=Labels(classes=["negative", "positive"]),
        max_seq_len=64, max_word_chars=None, training_config={"tiny": True}, metrics={"dev": {"accuracy": 50.0}},
        parity_texts=TEXTS, version=version,
    )
    return out_dir
