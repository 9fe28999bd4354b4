"""Serving cost per sentence of exported bundles: TorchScript forward on 1 CPU thread at batch 32.

    python bench/serving_cost.py model/atis ../shared/data/atis/dev
    python bench/serving_cost.py model/sentiment ../shared/data/sst2/dev.tsv

Times the scripted module on pre-padded batches of real dev sentences (the part the service's batcher
runs), and separately `BundleRunner.predict` (tokenise + pad + forward + labels). Prints a table; asserts
nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model.runtime import load_bundle  # noqa: E402
from model.text import encode_texts, pad_batch  # noqa: E402
from training.table_data import read_labelled_table  # noqa: E402
from training.tagging_data import read_tagging  # noqa: E402


def dev_texts(path: Path, tagger: bool) -> list[str]:
    if tagger:
        return [s.text for s in read_tagging(path)]
    return [e.text for e in read_labelled_table(path)]


def per_sentence_ms(call, batches: list, repeats: int) -> float:
    """Median over `repeats` passes of the time per sentence, in milliseconds."""
    sentences = sum(size for _, size in batches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for batch, _ in batches:
            call(batch)
        times.append((time.perf_counter() - start) / sentences * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bundle", type=Path)
    parser.add_argument("data", type=Path, help="dev data (texts to time)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runner = load_bundle(args.bundle)
    texts = dev_texts(args.data, runner.is_tagger)
    chunks = [texts[i : i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
    width = runner.manifest.max_word_chars if runner.is_tagger else None
    padded = [(pad_batch(encode_texts(runner.tokenizer, c), c, width), len(c)) for c in chunks]
    with torch.inference_mode():
        for inputs, _ in padded[:3]:
            runner.forward(inputs)  # warm-up: the profiling executor specialises on the first calls
        forward = per_sentence_ms(runner.forward, padded, args.repeats)
    predict = per_sentence_ms(runner.predict, [(c, len(c)) for c in chunks], args.repeats)
    print(f"| bundle | parameters | sentences | batch | threads | forward ms/sentence | predict ms/sentence |")
    print(f"| {args.bundle.name} | {runner.manifest.parameters:,} | {len(texts)} | {args.batch_size} | "
          f"{args.threads} | {forward:.3f} | {predict:.3f} |")


if __name__ == "__main__":
    main()
