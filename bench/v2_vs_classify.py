"""The Open Inference Protocol's infer against /classify on one server: same answers, and the throughput ratio.

    python -m bench.v2_vs_classify [--rounds 5] [--seconds 10] [--concurrency 64] [--workers 1]
                                   [--data DIR] [--loadtest PATH] [--json PATH]

Starts `python -m app` serving `sentiment` alone, then first checks that both doors give the same answers
on every SST-2 dev sentence: `POST /v2/models/sentiment/infer` (JSON) against `POST /classify` with
`"models": ["sentiment"]`, one text a request and 32 a request: labels equal, scores within 1e-6. Then
drives each endpoint with wrk (closed loop, keep-alive, one text a request, rotating through the dev
sentences) at one concurrency, in rounds that alternate which endpoint goes first, so drift on a shared
machine falls on both alike; prints each round and the medians, and the ratio v2 / classify.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

import httpx

from bench.common import Wrk, arguments, body_file, dev_texts, free_port, start_server, table_head, table_row

MODEL = "sentiment"
V2 = f"/v2/models/{MODEL}/infer"


def classify_body(texts: list[str]) -> dict:
    return {"texts": texts, "models": [MODEL]} if len(texts) > 1 else {"text": texts[0], "models": [MODEL]}


def v2_body(texts: list[str]) -> dict:
    return {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [len(texts)], "data": texts}]}


def answers(http: httpx.Client, texts: list[str]) -> tuple[list[tuple], list[tuple]]:
    """(label, scores) per text from /classify and from /v2, for one request holding `texts`."""
    classified = http.post("/classify", json=classify_body(texts)).json()
    results = classified["results"] if len(texts) > 1 else [classified]
    expected = [(r["predictions"][MODEL]["label"], tuple(r["predictions"][MODEL]["scores"].values())) for r in results]
    outputs = {output["name"]: output["data"] for output in http.post(V2, json=v2_body(texts)).json()["outputs"]}
    width = len(outputs["scores"]) // len(texts)
    got = [(label, tuple(outputs["scores"][i * width : (i + 1) * width])) for i, label in enumerate(outputs["label"])]
    return expected, got


def compare(url: str, texts: list[str]) -> dict:
    """Texts whose label differs, and the largest score difference, one text a request and 32 a request."""
    differing, largest, checked = 0, 0.0, 0
    with httpx.Client(base_url=url, timeout=60) as http:
        groups = [[text] for text in texts] + [texts[i : i + 32] for i in range(0, len(texts), 32)]
        for group in groups:
            expected, got = answers(http, group)
            for (label, scores), (v2_label, v2_scores) in zip(expected, got, strict=True):
                differing += label != v2_label
                largest = max(largest, *(abs(a - b) for a, b in zip(scores, v2_scores, strict=True)))
                checked += 1
    return {"texts_checked": checked, "labels_differing": differing, "max_score_diff": largest}


def measure(url: str, loads: dict[str, Wrk], args: argparse.Namespace) -> dict[str, list[dict]]:
    """wrk runs of each endpoint, `args.rounds` times, alternating which one goes first."""
    for path, load in loads.items():
        load.run(url + path, 16, 3)  # warm-up: connections, allocator, TorchScript profiling
    runs: dict[str, list[dict]] = {path: [] for path in loads}
    for number in range(args.rounds):
        order = list(loads) if number % 2 == 0 else list(reversed(loads))
        for path in order:
            run = loads[path].run(url + path, args.concurrency, args.seconds)
            runs[path].append(run)
            print(f"  round {number + 1} {path} c={args.concurrency}: {run}", file=sys.stderr)
    return runs


def report(runs: dict[str, list[dict]], check: dict, args: argparse.Namespace) -> None:
    classify, v2 = runs["/classify"], runs[V2]
    print(f"answers: {check['texts_checked']} texts, labels differing {check['labels_differing']}, "
          f"largest score difference {check['max_score_diff']:.2g}\n")
    table_head("round", "/classify rps · p50 · p99 ms", f"{V2} rps · p50 · p99 ms", "v2 / classify", align="lllr")
    for number, (a, b) in enumerate(zip(classify, v2), start=1):
        table_row(number, cell(a), cell(b), f"{b['rps'] / a['rps']:.3f}")
    medians = [{key: statistics.median(run[key] for run in runs_) for key in ("rps", "p50_ms", "p99_ms")}
               for runs_ in (classify, v2)]
    table_row("median", cell(medians[0]), cell(medians[1]), f"**{medians[1]['rps'] / medians[0]['rps']:.3f}**")
    errors = sum(run["non2xx"] + run["socket_errors"] for run in classify + v2)
    print(f"\nc={args.concurrency}, {args.seconds} s a run, {args.workers} worker(s); errors (non-2xx + socket): {errors}")


def cell(run: dict) -> str:
    return f"{run['rps']:,.0f} · {run['p50_ms']:.1f} · {run['p99_ms']:.1f}"


def main() -> None:
    parser = arguments(__doc__, loadtest=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--json", type=Path, help="also write the measurements as JSON here")
    args = parser.parse_args()
    texts = dev_texts(args.data, "sst2")
    script = args.loadtest or args.data.parent / "bench" / "loadtest.sh"
    loads = {"/classify": Wrk(script, body_file([classify_body([text]) for text in texts])),
             V2: Wrk(script, body_file([v2_body([text]) for text in texts]))}
    server = start_server({"SEQSERVE_WORKERS": str(args.workers), "SEQSERVE_MODELS": MODEL}, port=free_port())
    try:
        check = compare(server.url, texts)
        runs = measure(server.url, loads, args)
    finally:
        server.stop()
    report(runs, check, args)
    if args.json:
        args.json.write_text(json.dumps({"answers": check, "runs": runs}, indent=1))


if __name__ == "__main__":
    main()
