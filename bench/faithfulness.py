"""Are the explanations faithful? Delete the tokens they rank highest and see what the model does.

    python -m bench.faithfulness [--data DIR] [--model-dir model] [--seed 0]

Every dev text (SST-2 dev → `sentiment`, ATIS dev → `atis` intents) is sent with `"explain": true` to
the service, run in process. Then, as new texts through the same service:
- top-1 vs random: delete the token with the largest attribution, or a random token (seeded); how
  often the predicted label changes, and how much the original label's probability drops;
- deletion curve: delete tokens one by one, most-attributed first (or in random order), and average
  the original label's probability over the steps (0 … T-1 tokens deleted; the area under the curve,
  lower = the ranking finds what matters sooner).
Deleting a token replaces its characters by a space, so its neighbours never merge into a new word.
Texts of one token are left out (deleting it leaves nothing to classify). Last, the cost of an
explained request: median latency of one text with and without `explain`, one request at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager

from app.config import Settings
from app.main import create_app
from bench.common import REPO, arguments, dev_texts, table_head, table_row

CHUNK = 64  # texts per request (SEQSERVE_MAX_TEXTS); explained texts go one a request (the queue bound)


def answer(prediction: dict) -> tuple[str, float]:
    """The explained answer: a classifier's label or a tagger's intent, with its probability."""
    head = prediction.get("intent", prediction)
    return head["label"], head["score"]


def delete(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + " " + text[end:]
    return text


async def classify(client: httpx.AsyncClient, model: str, texts: list[str], explain: bool = False) -> list[dict]:
    """Predictions of `model` for every text, `CHUNK` texts a request."""
    predictions = []
    chunk = 1 if explain else CHUNK
    for first in range(0, len(texts), chunk):
        body = {"texts": texts[first : first + chunk], "models": [model], "explain": explain}
        response = await client.post("/classify", json=body)
        response.raise_for_status()
        predictions += [result["predictions"][model] for result in response.json()["results"]]
    return predictions


async def probabilities(
    client: httpx.AsyncClient, model: str, texts: list[str], labels: list[str]
) -> list[tuple[str, float]]:
    """For each text: the label now predicted, and the probability of `labels[i]` (the original label)."""
    out = []
    for prediction, label in zip(await classify(client, model, texts), labels):
        if "scores" in prediction:
            out.append((prediction["label"], prediction["scores"][label]))
        else:  # a tagger reports only its top intent: any other label's probability is at most 1 - top
            intent = prediction["intent"]
            out.append((intent["label"], intent["score"] if intent["label"] == label else 0.0))
    return out


def spans(tokens: list[dict]) -> list[tuple[int, int]]:
    return [(token["start"], token["end"]) for token in tokens]


async def faithfulness(client: httpx.AsyncClient, model: str, texts: list[str], seed: int) -> dict:
    """Top-1 and random deletion for every text of two tokens or more: label change, drop, AUC."""
    explained = await classify(client, model, texts, explain=True)
    rng = random.Random(seed)
    cases = [(text, p) for text, p in zip(texts, explained) if len(p["explanation"]) >= 2]
    texts = [text for text, _ in cases]
    labels = [answer(p)[0] for _, p in cases]
    before = [answer(p)[1] for _, p in cases]
    orders = {
        "top-1 attributed": [sorted(p["explanation"], key=lambda e: -e["attribution"]) for _, p in cases],
        "random": [rng.sample(p["explanation"], len(p["explanation"])) for _, p in cases],
    }
    result: dict = {"texts": len(cases)}
    for name, ranked in orders.items():
        after = await probabilities(client, model, [delete(t, spans(r[:1])) for t, r in zip(texts, ranked)], labels)
        result[name] = {
            "changed": sum(now != label for (now, _), label in zip(after, labels)) / len(cases),
            "drop": statistics.mean(b - p for b, (_, p) in zip(before, after)),
            "auc": await deletion_auc(client, model, texts, ranked, labels, before),
        }
    return result


async def deletion_auc(
    client: httpx.AsyncClient, model: str, texts: list[str], ranked: list[list[dict]], labels: list[str],
    before: list[float],
) -> float:
    """Mean over texts of the original label's probability averaged over 0 … T-1 deleted tokens."""
    shorter, owners = [], []
    for index, (text, order) in enumerate(zip(texts, ranked)):
        for k in range(1, len(order)):
            shorter.append(delete(text, spans(order[:k])))
            owners.append(index)
    curves = [[probability] for probability in before]
    for owner, (_, p) in zip(owners, await probabilities(client, model, shorter, [labels[o] for o in owners])):
        curves[owner].append(p)
    return statistics.mean(statistics.mean(curve) for curve in curves)


async def explain_cost(client: httpx.AsyncClient, texts: list[str]) -> dict[str, float]:
    """Median ms of one-text requests to `sentiment`, one at a time, without and with `explain`."""
    timings: dict[str, float] = {}
    for explain in (False, True, False, True):  # interleaved, the second pair is kept (the first warms)
        samples = []
        for text in texts:
            started = time.perf_counter()
            response = await client.post("/classify", json={"text": text, "models": ["sentiment"], "explain": explain})
            samples.append(time.perf_counter() - started)
            response.raise_for_status()
        timings["explain" if explain else "plain"] = statistics.median(samples) * 1000
    return timings


async def print_faithfulness(client: httpx.AsyncClient, data: Path, seed: int) -> None:
    sets = {
        "SST-2 dev (sentiment)": ("sentiment", dev_texts(data, "sst2")),
        "ATIS dev (atis intent)": ("atis", dev_texts(data, "atis")),
    }
    table_head("data", "texts", "deletion", "label changed", "probability drop", "deletion AUC (lower = faithful)",
               align="lrlrrr")
    for name, (model, texts) in sets.items():
        result = await faithfulness(client, model, texts, seed)
        for order in ("top-1 attributed", "random"):
            row = result[order]
            table_row(name, result["texts"], order, f"{row['changed']:.1%}", f"{row['drop']:.3f}", f"{row['auc']:.3f}")
        ratio = result["top-1 attributed"]["changed"] / max(result["random"]["changed"], 1e-9)
        table_row("", "", "ratio top-1 / random", f"{ratio:.1f}×", "", "")


async def print_cost(client: httpx.AsyncClient, data: Path) -> None:
    sst = dev_texts(data, "sst2")[:200]
    explained = await classify(client, "sentiment", sst, explain=True)
    tokens = statistics.mean(len(p["explanation"]) for p in explained)
    cost = await explain_cost(client, sst)
    print(
        f"\ncost, sentiment, one SST-2 dev text a request (mean {tokens:.1f} tokens), median of {len(sst)}: "
        f"{cost['plain']:.2f} ms plain, {cost['explain']:.2f} ms with explain "
        f"({cost['explain'] / cost['plain']:.1f}×)"
    )


async def main(args: argparse.Namespace) -> None:
    settings = Settings(model_dir=args.model_dir, models=["atis", "sentiment"], metrics_dir=Path(args.metrics_dir))
    app = create_app(settings)
    async with LifespanManager(app, startup_timeout=120) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client:
            await print_faithfulness(client, args.data, args.seed)
            await print_cost(client, args.data)


def parse() -> argparse.Namespace:
    parser = arguments(__doc__)
    parser.add_argument("--model-dir", type=Path, default=REPO / "model")
    parser.add_argument("--metrics-dir", default=None, help="prometheus folder (default: a temporary one)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.metrics_dir is None:
        args.metrics_dir = tempfile.mkdtemp(prefix="seqserve-faithfulness-")
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
