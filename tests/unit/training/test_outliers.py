"""Outlier exposure: texts from outside a task's scope are read from any data, mixed into training batches
and pulled toward "no idea", which lowers the model's confidence on text like them."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from model.text import encode_texts
from tests.unit.conftest import write_seq_folder
from training.cli import main
from training.config import TrainConfig
from training.examples import LabelledText
from training.kinds import CLASSIFIER, NO_TARGET, TAGGER
from training.models import BiLSTMClassifier, BiLSTMTagger
from training.outliers import read_texts, toward_uniform
from training.tasks import Outliers, training_batches
from training.tokenizer import build_tokenizer

TINY = ["--embed-dim", "16", "--hidden-size", "16", "--threads", "1", "--members", "1"]
REVIEWS = [f"the film {word} was {tone}" for word in ("plot", "cast", "score", "script", "ending") for tone in
           ("good", "great", "fine", "bad", "awful", "dull")]
FLIGHTS = ["show me flights from boston to denver", "i need a flight to dallas tomorrow",
           "what flights leave atlanta on monday", "cheapest fare from denver to boston",
           "list flights from pittsburgh to baltimore", "book me a flight to seattle"]


def test_read_texts_takes_folders_text_files_and_tables(tmp_path: Path) -> None:
    folder = write_seq_folder(tmp_path / "seq", "fly to boston\nplay jazz\n", "O O B-city\nO B-genre\n", "flight\nmusic\n")
    assert read_texts(folder) == ["fly to boston", "play jazz"]
    assert read_texts(folder, exclude={"music"}) == ["fly to boston"]
    lines = tmp_path / "texts.txt"
    lines.write_text("first text\n\n  \nsecond text\n", encoding="utf-8")
    assert read_texts(lines) == ["first text", "second text"]
    table = tmp_path / "table.tsv"
    table.write_text("sentence\tlabel\na fine film\t1\na dull film\t0\n", encoding="utf-8")
    assert read_texts(table, exclude={"0"}) == ["a fine film"]


def test_toward_uniform_is_least_when_the_model_has_no_idea() -> None:
    assert float(toward_uniform(torch.zeros(0, 4))) == 0.0
    assert float(toward_uniform(torch.zeros(3, 4))) == pytest.approx(math.log(4))
    assert float(toward_uniform(torch.tensor([[5.0, 0.0, 0.0, 0.0]]))) > math.log(4)


def test_outlier_rows_only_pull_toward_uniform() -> None:
    """A batch mixing examples and outliers: the examples' usual loss, plus the weighted outlier term."""
    torch.manual_seed(0)
    model = BiLSTMClassifier(30, 3, embed_dim=8, hidden_size=8).eval()
    ids, lengths = torch.randint(2, 30, (4, 5)), torch.tensor([5, 4, 3, 5])
    target = torch.tensor([2, NO_TARGET, 0, NO_TARGET])
    logits = model.logits(ids, lengths)
    mixed = CLASSIFIER.loss(model, (ids, lengths, target), 0.5)
    expected = torch.nn.functional.cross_entropy(logits[[0, 2]], target[[0, 2]]) + 0.5 * toward_uniform(logits[[1, 3]])
    assert float(mixed.detach()) == pytest.approx(float(expected.detach()), rel=1e-5)
    only_outliers = CLASSIFIER.loss(model, (ids, lengths, torch.full((4,), NO_TARGET)), 0.5)
    assert float(only_outliers.detach()) == pytest.approx(0.5 * float(toward_uniform(logits).detach()), rel=1e-5)


def test_a_tagger_batch_of_outliers_only_has_a_finite_gradient() -> None:
    torch.manual_seed(0)
    model = BiLSTMTagger(30, ["O", "B-x", "I-x"], 2, embed_dim=8, byte_dim=4, char_filters=4, hidden_size=8)
    ids, chars, lengths = torch.randint(2, 30, (3, 4)), torch.randint(1, 200, (3, 4, 5)), torch.tensor([4, 2, 3])
    for intent in (torch.full((3,), NO_TARGET), torch.tensor([1, NO_TARGET, 0])):
        tags = torch.full((3, 4), NO_TARGET)
        tags[intent != NO_TARGET, :2] = 0
        loss = TAGGER.loss(model, (ids, chars, lengths, tags, intent), 0.5)
        loss.backward()
        assert torch.isfinite(loss) and all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
        model.zero_grad()


def test_each_epoch_draws_its_outliers_afresh_beside_every_example() -> None:
    """Every training example once per epoch, plus `outlier_share` of their count in outliers, drawn anew
    each epoch, with no target of their own."""
    config = TrainConfig(task="classifier", train="", dev="", out="", batch_size=4, word_dropout=0.0,
                         outlier_share=0.5)
    tokenizer = build_tokenizer(REVIEWS + FLIGHTS)
    texts = REVIEWS[:8]
    prepared = CLASSIFIER.prepare(config, [LabelledText(t, "1" if "good" in t else "0") for t in texts],
                                  encode_texts(tokenizer, texts))
    batches = training_batches(config, texts, encode_texts(tokenizer, texts), prepared.targets, None,
                               Outliers(FLIGHTS, encode_texts(tokenizer, FLIGHTS), 4))
    generator = torch.Generator().manual_seed(0)
    epochs = []
    for _ in range(3):
        rows = [(tuple(ids[row, : lengths[row]].tolist()), int(target[row]))
                for ids, lengths, target in batches(generator) for row in range(len(target))]
        epochs.append(rows)
        examples = sorted(ids for ids, target in rows if target != NO_TARGET)
        assert examples == sorted(tuple(e.ids) for e in encode_texts(tokenizer, texts))
        assert len(rows) == 12  # 8 examples + 4 outliers
    drawn = [{ids for ids, target in rows if target == NO_TARGET} for rows in epochs]
    assert all(len(seen) == 4 for seen in drawn) and len(set.union(*drawn)) > 4  # new outliers each epoch


def test_cli_trains_a_tagger_with_outliers_and_records_them(data_root: Path, tmp_path: Path) -> None:
    train = tmp_path / "train"
    parts = [(data_root / "atis" / "train" / name).read_text(encoding="utf-8").split("\n")[:120]
             for name in ("seq.in", "seq.out", "label")]
    write_seq_folder(train, *("\n".join(lines) + "\n" for lines in parts))
    outliers = tmp_path / "outliers.txt"
    outliers.write_text("\n".join(REVIEWS) + "\n", encoding="utf-8")
    out = tmp_path / "tagger"
    assert main(["tagger", "--train", str(train), "--dev", str(train), "--out", str(out), "--epochs", "1",
                 "--char-filters", "4", *TINY, "--outliers", str(outliers), "--out-of-scope", str(outliers)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["training"]["outliers"] == [f"{tmp_path.name}/outliers.txt"]
    assert set(manifest["abstention"]["dev"]) == {"in_scope_answered", "in_scope_accuracy",
                                                  f"abstained_{tmp_path.name}/outliers.txt"}
