"""Occluded variants: masked to the unknown word, batched with plain texts without changing their answers."""

from __future__ import annotations

from dataclasses import asdict

import pytest
import torch

from model.manifest import PAD_ID, UNK_ID
from model.runtime import BundleRunner, Occlusion, load_bundle
from model.text import encode_texts, occlude, pad_batch
from tests.bundles import export_tiny_classifier, export_tiny_tagger


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BundleRunner]:
    root = tmp_path_factory.mktemp("bundles")
    return {
        "classifier": load_bundle(export_tiny_classifier(root / "sentiment")),
        "tagger": load_bundle(export_tiny_tagger(root / "atis")),
    }


def test_occlude_masks_the_id_and_the_bytes_of_one_token_only(bundles: dict[str, BundleRunner]) -> None:
    texts = ["fly to boston", "dull"]
    inputs = pad_batch(encode_texts(bundles["tagger"].tokenizer, texts), texts, word_chars=12)
    before_ids, before_chars = inputs.ids.clone(), inputs.chars.clone()  # type: ignore[union-attr]
    occlude(inputs, [0], [2])
    assert inputs.ids[0, 2] == UNK_ID and not inputs.chars[0, 2].any()  # type: ignore[index]
    inputs.ids[0, 2], inputs.chars[0, 2] = before_ids[0, 2], before_chars[0, 2]  # type: ignore[index]
    assert torch.equal(inputs.ids, before_ids) and torch.equal(inputs.chars, before_chars)  # type: ignore[arg-type]
    assert inputs.ids[1, 1] == PAD_ID


@pytest.mark.parametrize("kind", ["classifier", "tagger"])
def test_plain_texts_in_a_batch_with_variants_answer_as_alone(bundles: dict[str, BundleRunner], kind: str) -> None:
    runner = bundles[kind]
    texts = ["i want to fly from boston to denver", "dull and boring"]
    mixed = runner.predict_with_occlusions([texts[0], Occlusion(texts[0], 3), texts[1], Occlusion(texts[1], 0)])
    alone = runner.predict(texts)
    for got, expected in zip([mixed[0], mixed[2]], alone):
        assert_same_prediction(got, expected)
    labels = runner.manifest.labels.classes or runner.manifest.labels.intents
    assert all(isinstance(mixed[row], list) and len(mixed[row]) == len(labels) for row in (1, 3))  # type: ignore[arg-type]
    assert sum(mixed[1]) == pytest.approx(1.0, abs=1e-5)  # type: ignore[arg-type]


def assert_same_prediction(got: object, expected: object) -> None:
    """Equal labels and offsets; probabilities equal up to float noise (batch shapes differ)."""
    assert type(got) is type(expected)
    for name, value in asdict(expected).items():  # type: ignore[call-overload]
        numeric = isinstance(value, float | dict) or name == "tag_scores"
        if name == "spans":  # each span's score is a probability too
            value = [{**span, "score": pytest.approx(span["score"], abs=1e-6)} for span in value]
            assert [asdict(span) for span in got.spans] == value  # type: ignore[attr-defined]
            continue
        assert getattr(got, name) == (pytest.approx(value, abs=1e-6) if numeric else value), name


def test_classifier_variant_equals_the_text_with_an_unknown_word_in_its_place(bundles: dict[str, BundleRunner]) -> None:
    """A classifier reads only word ids, so masking 'great' is exactly writing a word it never saw there."""
    runner = bundles["classifier"]
    probs = runner.predict_with_occlusions([Occlusion("what a great film", 2)])[0]
    replaced = runner.predict(["what a zqxv film"])[0]
    assert probs == pytest.approx(list(replaced.scores.values()), abs=1e-6)  # type: ignore[union-attr]
