"""Model outputs → response dicts: tokens and slots index the raw text."""

from __future__ import annotations

import pytest

from app.predictions import prediction_payload
from model.runtime import ClassifierPrediction, TaggerPrediction
from model.text import slot_spans


@pytest.mark.parametrize("abstained", [False, True])
def test_classifier_payload(abstained: bool) -> None:
    prediction = ClassifierPrediction("positive", 0.9, {"negative": 0.1, "positive": 0.9}, abstained)
    assert prediction_payload("great", prediction) == {
        "label": "positive",
        "score": 0.9,
        "scores": {"negative": 0.1, "positive": 0.9},
        "abstained": abstained,
    }


def test_tagger_payload_spans_cover_multi_token_values_with_their_raw_spacing() -> None:
    text = "fly from New  York to St. Louis"
    offsets = [(0, 3), (4, 8), (9, 12), (14, 18), (19, 21), (22, 24), (24, 25), (26, 31)]
    tags = ["O", "O", "B-from", "I-from", "O", "B-to", "I-to", "I-to"]
    scores = [0.9, 0.9, 0.8, 0.6, 0.9, 0.7, 0.5, 0.9]
    spans = slot_spans(offsets, tags, scores)
    payload = prediction_payload(text, TaggerPrediction("flight", 0.99, tags, scores, offsets, spans))
    assert payload["intent"] == {"label": "flight", "score": 0.99}
    assert payload["abstained"] is False
    assert [token["text"] for token in payload["tokens"]] == ["fly", "from", "New", "York", "to", "St", ".", "Louis"]
    assert [(s["slot"], s["value"], s["start"], s["end"]) for s in payload["slots"]] == [
        ("from", "New  York", 9, 18),
        ("to", "St. Louis", 22, 31),
    ]
    assert payload["slots"][0]["score"] == pytest.approx(0.7)
    assert payload["slots"][1]["score"] == pytest.approx(0.7)
