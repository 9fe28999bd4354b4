"""What `--vectors` costs: bundle size, bundle load time, serving speed and training time.

    python -m bench.vectors_cost [ATIS_DIR] --words 100000 --dim 100      (ATIS_DIR: default DATA/atis)

Writes a GloVe-style text file into a temporary folder: the ATIS training words first (as in real
files, where common words come first), then filler words up to `--words`, random values with 5
decimals (the values do not change any cost). Trains the ATIS tagger for one epoch on the first
`--sentences` training sentences without vectors (default embedding 128) and with the vectors at
several `--vectors-extra` sizes, then times each bundle as the service runs it (1 torch thread,
TorchScript, batches of 32 dev sentences, median of 5 passes). Also times reading the file and matching
it to the training vocabulary (what `--vectors` adds to training). Prints a table; asserts nothing.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.common import DATA, REPO, arguments, median_ms, read_texts, table_head, table_row
from model.runtime import load_bundle
from training.tagging_data import read_tagging
from training.tokenizer import build_tokenizer
from training.vectors import open_vectors, pick_vectors


def write_vectors(path: Path, first_words: list[str], words: int, dim: int) -> None:
    generator = np.random.default_rng(0)
    names = first_words + [f"filler{i}" for i in range(words - len(first_words))]
    with path.open("w", encoding="utf-8") as handle:
        for start in range(0, len(names), 10_000):
            block = generator.normal(0.0, 0.4, size=(len(names[start : start + 10_000]), dim))
            handle.writelines(name + " " + " ".join(f"{value:.5f}" for value in row) + "\n"
                              for name, row in zip(names[start : start + 10_000], block))


def subset(source: Path, target: Path, count: int) -> Path:
    target.mkdir(parents=True)
    for name in ("seq.in", "seq.out", "label"):
        lines = (source / name).read_text(encoding="utf-8").split("\n")[:count]
        (target / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def bundle_row(name: str, options: list[str], train: Path, out: Path, dev_texts: list[str]) -> None:
    """Train one bundle with `options`, time it as the service runs it, print its table row."""
    command = [sys.executable, "-m", "training", "tagger", "--train", str(train), "--dev", str(train),
               "--out", str(out), "--epochs", "1", "--threads", "1", *options]
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=REPO)
    train_seconds = time.perf_counter() - started
    load_ms = median_ms(lambda: load_bundle(out), repeats=3)
    runner = load_bundle(out)
    chunks = [dev_texts[i : i + 32] for i in range(0, len(dev_texts), 32)]
    for chunk in chunks[:3]:
        runner.predict(chunk)  # warm-up: the profiling executor specialises on the first calls
    batch_ms = median_ms(lambda: [runner.predict(chunk) for chunk in chunks]) / len(chunks)
    table_row(name, f"{runner.manifest.vocab_size:,}", f"{(out / 'model.pt').stat().st_size / 1e6:.1f}",
              f"{train_seconds:.1f}", f"{load_ms:.0f}", f"{batch_ms:.2f}")
    if runner.manifest.vectors:
        table_row(f"  manifest: {runner.manifest.vectors.model_dump_json(exclude={'sha256'})}")


def main() -> None:
    parser = arguments(__doc__, data=False)
    parser.add_argument("data", type=Path, nargs="?", default=DATA / "atis",
                        help="ATIS folder (train/ and dev/ inside; default: DATA/atis)")
    parser.add_argument("--words", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--extra", type=int, nargs="+", default=[0, 20_000, 100_000])
    args = parser.parse_args()
    torch.set_num_threads(1)
    work = Path(tempfile.mkdtemp(prefix="vectors-cost-"))
    train = subset(args.data / "train", work / "train", args.sentences)
    words = list(dict.fromkeys(w.lower() for s in read_tagging(args.data / "train") for w in s.words))
    vectors = work / "vectors.txt"
    started = time.perf_counter()
    write_vectors(vectors, words, args.words, args.dim)
    print(f"vectors file: {args.words:,} words x {args.dim}, {vectors.stat().st_size / 1e6:.0f} MB, "
          f"written in {time.perf_counter() - started:.0f} s")
    tokenizer = build_tokenizer([s.text for s in read_tagging(train)])
    read_ms = median_ms(lambda: pick_vectors(open_vectors(vectors), tokenizer, max(args.extra)), repeats=3)
    print(f"read and matched to the training vocabulary in {read_ms / 1e3:.1f} s (median of 3)")
    runs = [("no vectors (embedding 128)", [])] + [
        (f"--vectors, --vectors-extra {extra:,}", ["--vectors", str(vectors), "--vectors-extra", str(extra)])
        for extra in args.extra
    ]
    table_head("run", "vocabulary", "model.pt MB", "training s (1 epoch)", "load_bundle ms", "predict ms / 32 sentences",
               align="lrrrrr")
    dev_texts = read_texts(args.data / "dev", tagging=True)
    for name, options in runs:
        bundle_row(name, options, train, work / f"bundle{len(options)}-{options[-1] if options else 0}", dev_texts)


if __name__ == "__main__":
    main()
