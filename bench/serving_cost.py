"""Serving cost per sentence of exported bundles: TorchScript forward on 1 CPU thread at batch 32.

    python -m bench.serving_cost model/atis ../shared/data/atis/dev
    python -m bench.serving_cost model/sentiment ../shared/data/sst2/dev.tsv

Times the scripted module on pre-padded batches of real dev sentences (the part the service's batcher
runs), and separately `BundleRunner.predict` (tokenise + pad + forward + labels). Prints a table; asserts
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from bench.common import arguments, median_ms, read_texts, table_head, table_row
from model.runtime import load_bundle
from model.text import encode_texts, pad_batch


def per_sentence_ms(call: Callable[[object], object], batches: list, repeats: int) -> float:
    """Median over `repeats` passes of the time per sentence, in milliseconds."""

    def one_pass() -> None:
        for batch, _ in batches:
            call(batch)

    return median_ms(one_pass, repeats) / sum(size for _, size in batches)


def main() -> None:
    parser = arguments(__doc__, data=False)
    parser.add_argument("bundle", type=Path)
    parser.add_argument("data", type=Path, help="dev data (texts to time)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runner = load_bundle(args.bundle)
    texts = read_texts(args.data, runner.is_tagger)
    chunks = [texts[i : i + args.batch_size] for i in range(0, len(texts), args.batch_size)]
    width = runner.max_word_chars
    padded = [(pad_batch(encode_texts(runner.tokenizer, c), c, width), len(c)) for c in chunks]
    with torch.inference_mode():
        for inputs, _ in padded[:3]:
            runner.forward(inputs)  # warm-up: the profiling executor specialises on the first calls
        forward = per_sentence_ms(runner.forward, padded, args.repeats)
    predict = per_sentence_ms(runner.predict, [(c, len(c)) for c in chunks], args.repeats)
    table_head("bundle", "parameters", "sentences", "batch", "threads", "forward ms/sentence", "predict ms/sentence",
               align="lrrrrrr")
    table_row(args.bundle.name, f"{runner.manifest.parameters:,}", len(texts), args.batch_size, args.threads,
              f"{forward:.3f}", f"{predict:.3f}")


if __name__ == "__main__":
    main()
