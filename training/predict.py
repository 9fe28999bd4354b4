"""Offline batch prediction: label a file with a bundle, without running the server.

The bundle is loaded and run by `model.runtime` exactly as the service runs it, in batches. Each output
line is JSON in the shape the training readers read back (a tagger's rows hold `text`, `intent` and
character `spans`; a classifier's `text` and `label`), plus scores and the input line it came from, so
predictions can be corrected and trained on. When the input carries gold labels, the metrics are
computed as `evaluate` computes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from model.runtime import BundleRunner, ClassifierPrediction, Prediction, TaggerPrediction, load_bundle
from model.text import slot_spans
from training.data import LabelledText, TaggedSentence, read_labelled, read_lines, read_tagging
from training.evaluate import accuracy, gold_label_names, slot_metrics, slot_predictions

Gold = list[TaggedSentence] | list[LabelledText] | None


def read_inputs(
    runner: BundleRunner, path: Path, fmt: str, text_column: str | None, label_column: str | None
) -> tuple[list[str], list[int], Gold]:
    """(texts, their line numbers, gold examples or None). A `.txt` file (or `fmt="text"`) is one text
    a line, blank lines skipped; anything else goes through the reader of the bundle's kind."""
    if fmt == "text" or (fmt == "auto" and path.suffix.lower() == ".txt"):
        numbered = [(number, line) for number, line in enumerate(read_lines(path), start=1) if line.strip()]
        return [line for _, line in numbered], [number for number, _ in numbered], None
    gold: Gold
    if runner.is_tagger:
        gold = read_tagging(path, fmt)  # type: ignore[arg-type]
    else:
        gold = read_labelled(path, fmt, text_column, label_column, gold_label_names(runner))  # type: ignore[arg-type]
    return [example.text for example in gold], [example.line or 0 for example in gold], gold


def output_row(line: int, text: str, prediction: Prediction) -> dict[str, Any]:
    if isinstance(prediction, ClassifierPrediction):
        return {"line": line, "text": text, "label": prediction.label, "score": prediction.score,
                "scores": prediction.scores}
    scores = prediction.tag_scores
    spans = [{"start": span.start, "end": span.end, "label": span.slot,
              "score": sum(scores[span.first_token : span.last_token + 1]) / (span.last_token - span.first_token + 1)}
             for span in slot_spans(prediction.offsets, prediction.tags)]
    return {"line": line, "text": text, "intent": prediction.intent, "intent_score": prediction.intent_score,
            "spans": spans}


def metrics_of(runner: BundleRunner, gold: Sequence[Any], predictions: Sequence[Prediction]) -> dict[str, float]:
    """The figures `evaluate` prints, from predictions already made."""
    if runner.is_tagger:
        tagged = [p for p in predictions if isinstance(p, TaggerPrediction)]
        return {"examples": len(gold), **slot_metrics(gold, slot_predictions(gold, tagged))}
    labels = [p.label for p in predictions if isinstance(p, ClassifierPrediction)]
    return {"examples": len(gold), "accuracy": accuracy([e.label for e in gold], labels)}


def predict_file(
    bundle: Path, path: Path, out: Path, fmt: str = "auto", text_column: str | None = None,
    label_column: str | None = None, batch_size: int = 256,
) -> dict[str, float] | None:
    """Write one JSON line per input text to `out`; return the metrics when the input has gold labels."""
    runner = load_bundle(bundle)
    texts, lines, gold = read_inputs(runner, Path(path), fmt, text_column, label_column)
    predictions: list[Prediction] = []
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as handle, tqdm(total=len(texts), unit="text", disable=None) as progress:
        for start in range(0, len(texts), batch_size):
            batch = runner.predict(texts[start : start + batch_size])
            for line, text, prediction in zip(lines[start:], texts[start:], batch):
                handle.write(json.dumps(output_row(line, text, prediction), ensure_ascii=False) + "\n")
            predictions.extend(batch)
            progress.update(len(batch))
    return None if gold is None else metrics_of(runner, gold, predictions)
