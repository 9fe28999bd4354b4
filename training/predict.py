"""Offline batch prediction: label a file with a bundle, without running the server.

The bundle is loaded and run by `model.runtime` exactly as the service runs it, in batches. Each output
line is JSON in the shape the training readers read back (a tagger's rows hold `text`, `intent` and
character `spans`; a classifier's `text` and `label`), plus scores and the input line it came from, so
predictions can be corrected and trained on. When the input carries gold labels, the metrics are
computed as `evaluate` computes them.
"""

from __future__ import annotations

import json
from pathlib import Path

from tqdm import tqdm

from model.manifest import BundleManifest
from model.runtime import Prediction
from training.evaluate import read_examples
from training.examples import Examples, read_lines
from training.inference import BATCH_SIZE, open_bundle, predict_batches
from training.kinds import TASKS


def read_inputs(
    manifest: BundleManifest, path: Path, fmt: str, text_column: str | None, label_column: str | None
) -> tuple[list[str], list[int], Examples | None]:
    """(texts, their line numbers, gold examples or None). A `.txt` file (or `fmt="text"`) is one text
    a line, blank lines skipped; anything else goes through the reader of the bundle's kind."""
    if fmt == "text" or (fmt == "auto" and path.suffix.lower() == ".txt"):
        numbered = [(number, line) for number, line in enumerate(read_lines(path), start=1) if line.strip()]
        return [line for _, line in numbered], [number for number, _ in numbered], None
    gold = read_examples(manifest, path, fmt, text_column, label_column)
    return [example.text for example in gold], [example.line or 0 for example in gold], gold


def predict_file(
    bundle: Path, path: Path, out: Path, fmt: str = "auto", text_column: str | None = None,
    label_column: str | None = None, batch_size: int = BATCH_SIZE,
) -> dict[str, float] | None:
    """Write one JSON line per input text to `out`; return the metrics when the input has gold labels."""
    manifest, runner = open_bundle(bundle)
    task = TASKS[manifest.kind]
    texts, lines, gold = read_inputs(manifest, Path(path), fmt, text_column, label_column)
    predictions: list[Prediction] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle, tqdm(total=len(texts), unit="text", disable=None) as progress:
        for batch in predict_batches(runner, texts, batch_size):
            start = len(predictions)
            for line, text, prediction in zip(lines[start:], texts[start:], batch):
                row = {"line": line, "text": text, **task.output_row(prediction)}
                handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            predictions.extend(batch)
            progress.update(len(batch))
    return None if gold is None else {"examples": len(gold), **task.metrics(gold, predictions)}
