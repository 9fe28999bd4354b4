"""Bundles trained on a user's own files (JSONL spans, CSV, pretrained vectors) are served by the app as they are.

Each bundle is trained for an epoch by the training CLI, then loaded by `create_app` with
SEQSERVE_MODEL_DIR pointing at it, and asked through POST /classify; its answer must be the one the
exported model recorded in the manifest's example.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from model.manifest import UNK_ID
from model.text import bio_spans, encode_texts, load_tokenizer
from tests.support import DATA_DIR, inprocess_client
from training.cli import main
from training.tagging_data import read_tagging

pytestmark = pytest.mark.anyio

TINY = ["--epochs", "1", "--hidden-size", "16", "--threads", "1"]
VECTORS = "the 0.1 0.2 0.3 0.4\nParis 1.0 1.0 1.0 1.0\ngood 0.25 0.5 0.75 1.0\nbad -1.0 -1.0 -1.0 -1.0\n"


def atis_as_jsonl(source: Path, target: Path, count: int) -> Path:
    """The first `count` ATIS sentences as JSONL with character spans, the way annotation tools write them."""
    rows = []
    for sentence in read_tagging(source)[:count]:
        starts = [sum(len(word) + 1 for word in sentence.words[:index]) for index in range(len(sentence.words))]
        spans = [{"start": starts[first], "end": starts[last] + len(sentence.words[last]), "label": slot}
                 for slot, first, last in bio_spans(sentence.tags)]
        rows.append(json.dumps({"text": sentence.text, "spans": spans, "intent": sentence.intent}))
    target.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return target


@pytest.fixture(scope="module")
def own_bundles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (DATA_DIR / "atis" / "train" / "seq.in").is_file():
        pytest.skip(f"datasets not found at {DATA_DIR} (set SEQSERVE_DATA)")
    data = tmp_path_factory.mktemp("own-data")
    root = data / "bundles"
    train = atis_as_jsonl(DATA_DIR / "atis" / "train", data / "train.jsonl", 300)
    dev = atis_as_jsonl(DATA_DIR / "atis" / "dev", data / "dev.jsonl", 100)
    assert main(["tagger", "--train", str(train), "--dev", str(dev), "--out", str(root / "flights"), *TINY,
                 "--embed-dim", "16", "--char-filters", "8"]) == 0
    reviews = data / "reviews.csv"
    reviews.write_text("review,stars\n" + "".join(
        f"\"film {i}, {'good' if i % 2 else 'bad'}\",{'five' if i % 2 else 'one'}\n" for i in range(40)))
    vectors = data / "glove.txt"
    vectors.write_text(VECTORS, encoding="utf-8")
    assert main(["classifier", "--train", str(reviews), "--dev", str(reviews), "--out", str(root / "reviews"), *TINY,
                 "--members", "1", "--text-column", "review", "--label-column", "stars", "--vectors", str(vectors),
                 "--vectors-extra", "2", "--freeze-vectors"]) == 0
    return root


@pytest.fixture
async def own_client(
    own_bundles: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("SEQSERVE_MODEL_DIR", str(own_bundles))
    monkeypatch.setenv("SEQSERVE_MODELS", "flights,reviews")
    monkeypatch.setenv("SEQSERVE_METRICS_DIR", str(tmp_path))
    async with inprocess_client(Settings()) as client:
        yield client


async def classify(client: httpx.AsyncClient, text: str, model: str) -> dict:
    response = await client.post("/classify", json={"text": text, "models": [model]})
    assert response.status_code == 200, response.text
    return response.json()["predictions"][model]


async def test_both_bundles_are_served(own_client: httpx.AsyncClient) -> None:
    models = (await own_client.get("/models")).json()["models"]
    assert {(m["name"], m["kind"]) for m in models} == {("flights", "tagger"), ("reviews", "classifier")}


async def test_tagger_from_jsonl_spans_answers_as_exported(own_client: httpx.AsyncClient, own_bundles: Path) -> None:
    example = json.loads((own_bundles / "flights" / "manifest.json").read_text())["example"]
    answer = await classify(own_client, example["text"], "flights")
    assert [answer["intent"]["label"], *(token["tag"] for token in answer["tokens"])] == example["labels"]
    assert [token["text"] for token in answer["tokens"]] == example["text"].split()


async def test_classifier_from_csv_answers_as_exported(own_client: httpx.AsyncClient, own_bundles: Path) -> None:
    example = json.loads((own_bundles / "reviews" / "manifest.json").read_text())["example"]
    answer = await classify(own_client, example["text"], "reviews")
    assert answer["label"] == example["labels"][0] and set(answer["scores"]) == {"five", "one"}
    assert list(answer["scores"].values()) == pytest.approx(example["scores"], abs=1e-4)


async def test_extra_vector_words_have_their_own_meaning_when_served(
    own_client: httpx.AsyncClient, own_bundles: Path
) -> None:
    tokenizer = load_tokenizer(own_bundles / "reviews" / "tokenizer.json")
    ids = encode_texts(tokenizer, ["the Paris", "zzz qqq"])
    assert UNK_ID not in ids[0].ids and ids[1].ids == [UNK_ID, UNK_ID]  # words from the vectors, not from training
    extra, unknown = await classify(own_client, "the Paris", "reviews"), await classify(own_client, "zzz qqq", "reviews")
    assert extra["scores"] != pytest.approx(unknown["scores"], abs=1e-6)
