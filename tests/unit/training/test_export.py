"""Export of tiny models: the saved bundle loads, answers like the eager model, and pins its files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import Tensor

from model.manifest import Labels, sha256_file
from model.runtime import ClassifierPrediction, TaggerPrediction, load_bundle
from training.ensembles import ClassifierEnsemble, TaggerEnsemble
from training.export import ExportParityError, export_bundle
from training.models import BiLSTMClassifier, BiLSTMTagger, parameter_count
from training.tokenizer import build_tokenizer

TEXTS = ["show flights to Boston", "cheapest fare from denver to st. louis", "what's the weather", "x"]
SLOT_TAGS = ["O", "B-city", "I-city", "B-fare"]


def tiny_tagger() -> BiLSTMTagger:
    torch.manual_seed(0)
    return BiLSTMTagger(30, SLOT_TAGS, 2, embed_dim=8, byte_dim=4, char_filters=6, hidden_size=8)


def export_tagger(model: torch.nn.Module, out: Path) -> None:
    tokenizer = build_tokenizer(TEXTS)
    export_bundle(
        model, tokenizer, out, kind="tagger", labels=Labels(intents=["flight", "weather"], slot_tags=SLOT_TAGS),
        max_seq_len=16, max_word_chars=8, training_config={"epochs": 1}, metrics={"dev": {"slot_f1": 12.5}},
        parity_texts=TEXTS, extra_files={"report.md": b"# tiny\n"},
    )


def test_tagger_bundle_round_trip(tmp_path: Path) -> None:
    model = tiny_tagger()
    export_tagger(model, tmp_path / "tiny")
    manifest = json.loads((tmp_path / "tiny" / "manifest.json").read_text())
    assert sorted(manifest["files"]) == ["model.pt", "report.md", "tokenizer.json"]
    assert manifest["files"]["model.pt"] == sha256_file(tmp_path / "tiny" / "model.pt")
    assert manifest["metrics"] == {"dev": {"slot_f1": 12.5}}
    assert manifest["parameters"] == parameter_count(model)
    prediction = load_bundle(tmp_path / "tiny").predict(["cheapest fare from denver to st. louis"])[0]
    assert isinstance(prediction, TaggerPrediction)
    assert len(prediction.tags) == len(prediction.offsets) == 8
    assert manifest["example"]["text"] == TEXTS[0]


def test_classifier_bundle_matches_eager_model(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = BiLSTMClassifier(40, 2, embed_dim=8, hidden_size=8).eval()
    tokenizer = build_tokenizer(TEXTS)
    export_bundle(
        model, tokenizer, tmp_path / "sent", kind="classifier", labels=Labels(classes=["0", "1"]), max_seq_len=16,
        max_word_chars=None, training_config={}, metrics={"dev": {"accuracy": 50.0}}, parity_texts=TEXTS,
    )
    runner = load_bundle(tmp_path / "sent")
    encoded = tokenizer.encode_batch(TEXTS, add_special_tokens=False)
    with torch.inference_mode():
        for text, enc, prediction in zip(TEXTS, encoded, runner.predict(TEXTS)):
            assert isinstance(prediction, ClassifierPrediction)
            eager = model(torch.tensor([enc.ids]), torch.tensor([len(enc.ids)]))[0].tolist()
            assert list(prediction.scores) == ["0", "1"]
            assert max(abs(a - b) for a, b in zip(prediction.scores.values(), eager)) <= 1e-5, text


class DriftingTagger(BiLSTMTagger):
    """Answers differently once scripted, on batches only (so the single-text example check at load
    passes and the whole-dev-set parity check is what must catch it)."""

    def forward(self, ids: Tensor, chars: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        tag_logits, intent_logits = self.scores(ids, chars, lengths)
        if torch.jit.is_scripting() and ids.size(0) > 1:
            intent_logits = intent_logits * 3.0
        log_probs = torch.log_softmax(tag_logits, dim=-1)
        tags = self.decode(log_probs, lengths)
        return torch.softmax(intent_logits, dim=-1), tags, log_probs.gather(2, tags.unsqueeze(2)).squeeze(2).exp()


def test_parity_failure_writes_no_bundle(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = DriftingTagger(30, SLOT_TAGS, 2, embed_dim=8, byte_dim=4, char_filters=6, hidden_size=8)
    with pytest.raises(ExportParityError):
        export_tagger(model, tmp_path / "drift")
    assert list(tmp_path.iterdir()) == []


def test_tagger_answers_the_same_alone_and_batched() -> None:
    model = tiny_tagger().eval()
    tokenizer = build_tokenizer(TEXTS)
    from model.text import encode_texts, pad_batch

    batch = pad_batch(encode_texts(tokenizer, TEXTS), TEXTS, 8)
    with torch.inference_mode():
        intents, tags, probs = model(batch.ids, batch.chars, batch.lengths)
        for row, text in enumerate(TEXTS):
            alone = pad_batch(encode_texts(tokenizer, [text]), [text], 8)
            one_intents, one_tags, one_probs = model(alone.ids, alone.chars, alone.lengths)
            length = int(alone.lengths[0])
            assert torch.allclose(intents[row], one_intents[0], atol=1e-6)
            assert tags[row, :length].tolist() == one_tags[0].tolist()
            assert torch.allclose(probs[row, :length], one_probs[0], atol=1e-6)


def test_ensembles_export_as_one_module_answering_with_the_mean(tmp_path: Path) -> None:
    torch.manual_seed(0)
    classifiers = [BiLSTMClassifier(40, 2, embed_dim=8, hidden_size=8).eval() for _ in range(3)]
    tokenizer = build_tokenizer(TEXTS)
    export_bundle(
        ClassifierEnsemble(classifiers), tokenizer, tmp_path / "sent", kind="classifier",
        labels=Labels(classes=["negative", "positive"]), max_seq_len=16, max_word_chars=None, training_config={},
        metrics={}, parity_texts=TEXTS,
    )
    from model.text import encode_texts, pad_batch

    batch = pad_batch(encode_texts(tokenizer, TEXTS))
    with torch.inference_mode():
        mean = torch.stack([member(batch.ids, batch.lengths) for member in classifiers]).mean(dim=0)
    runner = load_bundle(tmp_path / "sent")
    for row, prediction in enumerate(runner.predict(TEXTS)):
        assert isinstance(prediction, ClassifierPrediction)
        assert list(prediction.scores.values()) == pytest.approx(mean[row].tolist(), abs=1e-6)

    taggers = [tiny_tagger().eval()]
    torch.manual_seed(1)
    taggers.append(BiLSTMTagger(30, SLOT_TAGS, 2, embed_dim=8, byte_dim=4, char_filters=6, hidden_size=8).eval())
    ensemble = TaggerEnsemble(taggers)
    export_tagger(ensemble, tmp_path / "tag")
    tagger_batch = pad_batch(encode_texts(tokenizer, TEXTS), TEXTS, 8)
    with torch.inference_mode():
        intents, tags, probs = ensemble(tagger_batch.ids, tagger_batch.chars, tagger_batch.lengths)
        mean_intents = torch.stack([torch.softmax(m.scores(tagger_batch.ids, tagger_batch.chars,
                                                           tagger_batch.lengths)[1], -1) for m in taggers]).mean(0)
    assert torch.allclose(intents, mean_intents, atol=1e-6)
    loaded = load_bundle(tmp_path / "tag")
    assert loaded.predict(TEXTS)[1].tags == [SLOT_TAGS[t] for t in tags[1, : int(tagger_batch.lengths[1])].tolist()]
    assert json.loads((tmp_path / "tag" / "manifest.json").read_text())["parameters"] == sum(
        parameter_count(m) for m in taggers)


def test_every_exported_module_states_the_output_sizes_its_manifest_expects(tmp_path: Path) -> None:
    """`output_sizes()` survives TorchScript export and has the manifest's keys and values, for single
    models and ensembles alike (the bundle loader can check labels without knowing layer names)."""
    torch.manual_seed(0)
    tokenizer = build_tokenizer(TEXTS)
    classifiers = [BiLSTMClassifier(40, 3, embed_dim=8, hidden_size=8) for _ in range(2)]
    for name, model in (("one", classifiers[0]), ("pair", ClassifierEnsemble(classifiers))):
        export_bundle(
            model, tokenizer, tmp_path / name, kind="classifier", labels=Labels(classes=["a", "b", "c"]),
            max_seq_len=16, max_word_chars=None, training_config={}, metrics={}, parity_texts=TEXTS,
        )
    torch.manual_seed(1)
    taggers = [tiny_tagger(), BiLSTMTagger(30, SLOT_TAGS, 2, embed_dim=8, byte_dim=4, char_filters=6, hidden_size=8)]
    export_tagger(taggers[0], tmp_path / "tagger")
    export_tagger(TaggerEnsemble(taggers), tmp_path / "taggers")
    expected = {"one": {"classes": 3}, "pair": {"classes": 3}, "tagger": {"intents": 2, "slot_tags": len(SLOT_TAGS)},
                "taggers": {"intents": 2, "slot_tags": len(SLOT_TAGS)}}
    for name, sizes in expected.items():
        module = torch.jit.load(str(tmp_path / name / "model.pt"))
        manifest = load_bundle(tmp_path / name).manifest
        assert module.output_sizes() == manifest.output_sizes() == sizes, name


def test_ensemble_members_must_agree_on_output_sizes() -> None:
    with pytest.raises(ValueError, match=r"ensemble members differ in output size: \[2, 3\]"):
        ClassifierEnsemble([BiLSTMClassifier(40, 2, embed_dim=8, hidden_size=8),
                            BiLSTMClassifier(40, 3, embed_dim=8, hidden_size=8)])
