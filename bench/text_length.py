"""What a text's length costs the service, and whether long texts hold up the short ones beside them.

    python -m bench.text_length [--seconds 5] [--rounds 3] [--model atis]

Texts are whole now (no cut at 128 tokens), so a BiLSTM's cost grows with the length of what it reads.
One `python -m app` (1 worker) serves; 1 or 64 closed-loop clients on keep-alive connections to
127.0.0.1 send one text per request to `--model`:

1. *Cost against length*: texts of 5, 20, 100 and 300 words and the longest accepted (2,000 characters),
   ATIS dev sentences repeated to length; rps, p50 and p99 at c=1 and c=64.
2. *Mixed traffic*: 64 clients, 95 % of requests one ~20-word text and 5 % the longest, against the same
   clients sending only the short texts, alternated `--rounds` times; the short requests' p50 and p99.
3. *Why long texts run apart*: in process, one forward of 31 short texts and the longest, whole and
   split as the batcher splits it (`app.batching.length_groups`), median ms.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import defaultdict
from pathlib import Path

from app.batching import length_groups
from app.config import Settings
from bench.common import (arguments, dev_texts, exchange, free_port, median_ms, percentile, raw_request,
                          start_server, table_head, table_row)
from model.runtime import load_bundle

LONGEST = Settings.model_fields["max_text_chars"].default  # the longest text the server accepts


def text_of(words: int, source: list[str]) -> str:
    """ATIS dev sentences run together and cut to `words` words (or to the longest accepted text)."""
    pool = " ".join(source).split()
    text = " ".join(pool[:words])
    return text if len(text) <= LONGEST else text[:LONGEST].rsplit(" ", 1)[0]


async def closed_loop(port: int, bodies: list[tuple[str, bytes]], clients: int, seconds: float) -> dict[str, list[float]]:
    """Latencies (ms) by body kind; each client rotates through `bodies` from its own offset."""
    latencies: dict[str, list[float]] = defaultdict(list)
    deadline = time.monotonic() + seconds

    async def client(offset: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        i = offset
        while time.monotonic() < deadline:
            kind, request = bodies[i % len(bodies)]
            i += 1
            sent = time.perf_counter()
            status, _, _ = await exchange(reader, writer, request)
            latencies[kind if status == 200 else "failed"].append((time.perf_counter() - sent) * 1e3)
        writer.close()

    await asyncio.gather(*(client(n * 7) for n in range(clients)))
    return latencies


def request(model: str, text: str) -> bytes:
    return raw_request("/classify", {"text": text, "models": [model]})


def cost_table(port: int, model: str, source: list[str], seconds: float) -> None:
    table_head("words", "characters", "c=1 rps · p50 · p99 ms", "c=64 rps · p50 · p99 ms", align="rrll")
    for words in (5, 20, 100, 300, 10_000):
        text = text_of(words, source)
        cells = []
        for clients in (1, 64):
            got = asyncio.run(closed_loop(port, [("text", request(model, text))], clients, seconds))["text"]
            cells.append(f"{len(got) / seconds:,.0f} · {statistics.median(got):.2f} · {percentile(got, 99):.2f}")
        table_row(len(text.split()), len(text), *cells)


def mixed_table(port: int, model: str, source: list[str], seconds: float, rounds: int) -> None:
    short = [("short", request(model, text_of(20, source[i:]))) for i in range(19)]
    mixed = [*short, ("long", request(model, text_of(10_000, source)))]  # 1 in 20: 5 % of requests
    table_head("round", "short only: p50 · p99 ms", "mixed: short p50 · p99 ms", "mixed: long p50 · p99 ms",
               "short p99 mixed / alone", align="rlllr")
    ratios = []
    for number in range(1, rounds + 1):
        alone = asyncio.run(closed_loop(port, short, 64, seconds))["short"]
        both = asyncio.run(closed_loop(port, mixed, 64, seconds))
        ratios.append(percentile(both["short"], 99) / percentile(alone, 99))
        table_row(number, *(f"{statistics.median(v):.2f} · {percentile(v, 99):.2f}" for v in (alone, both["short"], both["long"])),
                  f"{ratios[-1]:.2f}")
    print(f"\nmedian short p99 mixed / alone: {statistics.median(ratios):.2f}")


def split_table(model: str, source: list[str]) -> None:
    runner = load_bundle(Path("model") / model)
    batch = [text_of(20, source[i:]) for i in range(31)] + [text_of(10_000, source)]
    groups = length_groups([len(text) for text in batch])
    whole = median_ms(lambda: runner.predict(batch), repeats=9)
    split = median_ms(lambda: [runner.predict([batch[i] for i in group]) for group in groups], repeats=9)
    table_head("one batch: 31 short texts + the longest", "ms", align="lr")
    table_row("one forward, padded to the longest", f"{whole:.1f}")
    table_row(f"{len(groups)} forwards, as the batcher splits it", f"{split:.1f}")


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--model", default="atis")
    args = parser.parse_args()
    source = dev_texts(args.data, "atis")
    port = free_port()
    server = start_server({"SEQSERVE_WORKERS": "1", "SEQSERVE_MODELS": args.model}, port=port)
    try:
        print(f"## Cost against length ({args.model}, 1 worker, {args.seconds:g} s each)\n")
        cost_table(port, args.model, source, args.seconds)
        print(f"\n## Mixed traffic: 5 % of requests the longest text, 64 clients, {args.seconds:g} s each\n")
        mixed_table(port, args.model, source, args.seconds, args.rounds)
    finally:
        server.stop()
    print(f"\n## Why long texts run apart ({args.model}, in process, 1 thread)\n")
    split_table(args.model, source)


if __name__ == "__main__":
    main()
