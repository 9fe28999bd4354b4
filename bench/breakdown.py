"""Where a request's time goes: each stage timed on its own, with real dev sentences, on one CPU thread.

    python -m bench.breakdown [--data DIR] [--model-dir model] [--loadtest PATH]

Stages: parse and validate the body, tokenize, pad, forward, build and encode the response, and what
the HTTP framework adds around them (the app driven through ASGI with a stand-in for the model). Then a
live server under wrk c=64 gives the queue wait and the whole latency as the service sees them.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import torch

from app.config import Settings
from app.main import create_app
from app.predictions import prediction_payload
from app.schemas import classify_request_model
from bench.common import REPO, arguments, dev_texts, mixed_bodies, start_server, table_head, table_row, wrk
from model.runtime import load_bundle
from model.text import encode_texts, pad_batch


def per_call_us(function: Callable[[], object], seconds: float = 1.0) -> float:
    for _ in range(20):
        function()
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        function()
        calls += 1
    return (time.perf_counter() - started) / calls * 1e6


def stage_table(model_dir: Path, texts: dict[str, list[str]]) -> list[tuple[str, str, float, float]]:
    rows = []
    request_model = classify_request_model(Settings())
    for name, sentences in texts.items():
        runner = load_bundle(model_dir / name)
        width = runner.max_word_chars
        for size in (1, 32):
            batch = sentences[:size]
            bodies = [orjson.dumps({"text": text, "models": [name]}) for text in batch]
            encoded = encode_texts(runner.tokenizer, batch)
            inputs = pad_batch(encoded, batch, width)
            predictions = runner.predict(batch)

            def forward() -> object:
                with torch.inference_mode():
                    return runner.forward(inputs)

            def respond() -> object:
                return [orjson.dumps({"text": t, "predictions": {name: prediction_payload(t, p)}}) for t, p in zip(batch, predictions)]

            stages = {
                "parse + validate body": lambda: [request_model.model_validate_json(body) for body in bodies],
                "tokenize": lambda: encode_texts(runner.tokenizer, batch),
                "pad (+ word bytes)": lambda: pad_batch(encoded, batch, width),
                "forward (incl. decoding)": forward,
                "build + encode response": respond,
            }
            for stage, function in stages.items():
                rows.append((name, stage, size, per_call_us(function) / size))
    return rows


async def framework_us(model_dir: Path) -> float:
    """CPU per request of the ASGI stack with the model replaced by a cached answer."""
    from asgi_lifespan import LifespanManager

    app = create_app(Settings(model_dir=model_dir, models=["atis"], metrics_dir=Path(tempfile.mkdtemp())))
    body = b'{"text": "show me flights from boston to denver", "models": ["atis"]}'
    async with LifespanManager(app) as manager:
        batcher = app.state.service.registry.default("atis").batcher
        cached = batcher._predict(["show me flights from boston to denver"])[0]
        batcher._predict = lambda items: [cached] * len(items)
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
            "path": "/classify", "raw_path": b"/classify", "query_string": b"", "root_path": "", "state": {},
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
        }

        async def one() -> None:
            done = asyncio.Event()
            messages = [{"type": "http.request", "body": body, "more_body": False}]

            async def receive() -> dict:
                if messages:
                    return messages.pop()
                await done.wait()
                return {"type": "http.disconnect"}

            async def send(message: dict) -> None:
                if message["type"] == "http.response.body":
                    done.set()

            await manager.app(dict(scope), receive, send)

        for _ in range(200):
            await one()
        started, count = time.process_time(), 2000
        for _ in range(count):
            await one()
        return (time.process_time() - started) / count * 1e6


def print_stages(model_dir: Path, data: Path) -> None:
    rows = stage_table(model_dir, {"atis": dev_texts(data, "atis"), "sentiment": dev_texts(data, "sst2")})
    table_head("bundle", "stage", "µs per text, batch 1", "µs per text, batch 32", align="llrr")
    for name in ("atis", "sentiment"):
        stages = dict.fromkeys(stage for n, stage, _, _ in rows if n == name)
        for stage in stages:
            one, many = (us for n, s, size, us in rows if n == name and s == stage)
            table_row(name, stage, f"{one:,.0f}", f"{many:,.0f}")
    print(f"\nHTTP framework around the handler (ASGI, model stubbed), CPU per request: {asyncio.run(framework_us(model_dir)):,.0f} µs")


def print_live(args: argparse.Namespace) -> None:
    """wrk c=64 against a live server; the mean queue wait from its metrics."""
    load = wrk(args, mixed_bodies(args.data))
    server = start_server({"SEQSERVE_MODELS": "atis,sentiment"})
    try:
        load.run(f"{server.url}/classify", 16, 3)
        result = load.run(f"{server.url}/classify", 64, 10)
        metrics = httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()
    waits = {}
    for line in metrics.splitlines():
        for kind in ("sum", "count"):
            prefix = f"seqserve_queue_wait_seconds_{kind}"
            if line.startswith(prefix):
                waits.setdefault(kind, 0.0)
                waits[kind] += float(line.rsplit(" ", 1)[1])
    print(f"live, wrk c=64: {result['rps']:,.0f} rps, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms; "
          f"mean queue wait {waits['sum'] / waits['count'] * 1000:.1f} ms per text")


def main() -> None:
    parser = arguments(__doc__, loadtest=True)
    parser.add_argument("--model-dir", type=Path, default=REPO / "model")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print_stages(args.model_dir, args.data)
    print_live(args)


if __name__ == "__main__":
    main()
