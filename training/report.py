"""The human-readable part of a bundle: report.md, learning curves, a confusion matrix and a reliability
diagram (PNG).

Everything is returned as bytes so export can pin each file's sha256 in the manifest with the rest.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # no display on training machines
import matplotlib.pyplot as plt  # noqa: E402

if TYPE_CHECKING:
    from training.calibration import Reliability
    from training.scope import Scope

LEARNING_CURVES = "learning_curves.png"
CONFUSION_MATRIX = "confusion_matrix.png"
RELIABILITY = "reliability.png"
REPORT = "report.md"
MATRIX_LABELS = 60  # beyond this a confusion matrix is too large to read (or to ship): left out


@dataclass
class ReportInputs:
    name: str
    kind: str
    metrics: Mapping[str, float]
    history: Sequence[Mapping[str, float]]  # one row per epoch; the exported model is the last one's
    config: Mapping[str, Any]
    parameters: int
    train_examples: int
    dev_examples: int
    gold_labels: Sequence[str]  # intents or classes of the dev set, for the confusion matrix
    predicted_labels: Sequence[str]
    known_labels: Sequence[str]  # the model's labels, in output order
    details: str = ""  # e.g. seqeval's per-slot table
    notes: list[str] = field(default_factory=list)
    scope: Scope | None = None  # calibration and abstention, when they were fitted


def build_report(inputs: ReportInputs) -> dict[str, bytes]:
    """report.md plus the PNGs it links to."""
    files = {REPORT: markdown(inputs).encode("utf-8"), LEARNING_CURVES: learning_curves(inputs.history)}
    if len(inputs.known_labels) <= MATRIX_LABELS:
        files[CONFUSION_MATRIX] = confusion_matrix_png(inputs.gold_labels, inputs.predicted_labels,
                                                       inputs.known_labels)
    if inputs.scope is not None:
        files[RELIABILITY] = reliability_png(inputs.scope.before, inputs.scope.after)
    return files


def markdown(inputs: ReportInputs) -> str:
    metric_names = [name for name in inputs.history[0] if name not in ("epoch", "train_loss", "seconds")]
    lines = [
        f"# {inputs.name} ({inputs.kind})",
        "",
        f"Dev metrics of the exported model (the last of {len(inputs.history)} epochs), in percent:",
        "",
        "| " + " | ".join(inputs.metrics) + " |",
        "|" + " --- |" * len(inputs.metrics),
        "| " + " | ".join(f"{value:.2f}" for value in inputs.metrics.values()) + " |",
        "",
        f"Parameters: {inputs.parameters:,}. Training examples: {inputs.train_examples:,}; "
        f"dev examples: {inputs.dev_examples:,}. Training time: {inputs.history[-1]['seconds']:.0f} s.",
        "",
        *inputs.notes,
        "",
        "## Per epoch",
        "",
        "| epoch | train loss | " + " | ".join(metric_names) + " | seconds |",
        "| --- | --- |" + " --- |" * len(metric_names) + " --- |",
        *(
            f"| {row['epoch']:.0f} | {row['train_loss']:.4f} | "
            + " | ".join(f"{row[name]:.2f}" for name in metric_names)
            + f" | {row['seconds']:.0f} |"
            for row in inputs.history
        ),
        "",
        f"![learning curves]({LEARNING_CURVES})",
        "",
        f"![confusion matrix]({CONFUSION_MATRIX})" if len(inputs.known_labels) <= MATRIX_LABELS
        else f"(No confusion matrix: {len(inputs.known_labels)} labels.)",
        "",
        *(scope_section(inputs.scope) if inputs.scope is not None else []),
    ]
    if inputs.details:
        lines += ["## Per label", "", "```", inputs.details.rstrip(), "```", ""]
    lines += ["## Training configuration", "", "```json", json.dumps(inputs.config, indent=2), "```", ""]
    return "\n".join(lines)


def scope_section(scope: Scope) -> list[str]:
    """Calibration before/after on dev, the reliability diagram, and the abstention rule with its figures."""
    calibration, rule = scope.calibration, scope.abstention
    lines = [
        "## Calibration and abstention", "",
        f"Scores are calibrated by temperature scaling (T = {calibration.temperature:g}, fitted by NLL on "
        f"{calibration.fitted_on}); labels are unchanged. Dev figures (ECE in %, 15 equal-width bins):", "",
        "| | ECE | NLL | Brier |", "| --- | --- | --- | --- |",
        *(f"| {name} | {values['ece']:.2f} | {values['nll']:.4f} | {values['brier']:.4f} |"
          for name, values in (("raw", calibration.before), ("calibrated", calibration.after))),
        "", f"![reliability diagram]({RELIABILITY})", "",
    ]
    if rule is None:
        return [*lines, "No abstention rule: the bundle answers every text.", ""]
    oos = f"predicts {', '.join(rule.labels)} or " if rule.labels else ""
    return [
        *lines, f"Abstains when it {oos}its calibrated top score is below {rule.min_score:g} ({rule.chosen_on}). "
        "Dev figures in % (abstained in-scope texts count wrong; `abstained_X`: share of the out-of-scope "
        "texts X it abstains on):", "",
        "| " + " | ".join(rule.dev) + " |", "|" + " --- |" * len(rule.dev),
        "| " + " | ".join(f"{value:.2f}" for value in rule.dev.values()) + " |", "",
    ]


def reliability_png(before: Sequence[Reliability], after: Sequence[Reliability]) -> bytes:
    """Accuracy against confidence per bin, raw and calibrated; the diagonal is perfect calibration."""
    figure, axes = plt.subplots(1, 2, figsize=(8, 4), dpi=100, sharey=True)
    for axis, bins, title in ((axes[0], before, "raw"), (axes[1], after, "calibrated")):
        axis.bar([b.low for b in bins], [b.accuracy for b in bins], width=[b.high - b.low for b in bins],
                 align="edge", edgecolor="black", color="#8db7e4", label="accuracy")
        axis.plot([b.confidence for b in bins], [b.accuracy for b in bins], "o", color="#d9431e", markersize=3,
                  label="accuracy at the mean confidence")
        axis.plot([0, 1], [0, 1], "k--", linewidth=1)
        axis.set_title(title)
        axis.set_xlabel("confidence (top score)")
    axes[0].set_ylabel("accuracy (dev)")
    axes[0].legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    return png(figure)


def learning_curves(history: Sequence[Mapping[str, float]]) -> bytes:
    """Training loss (left axis) and each dev metric (right axis) per epoch."""
    epochs = [row["epoch"] for row in history]
    figure, loss_axis = plt.subplots(figsize=(7, 4), dpi=100)
    loss_axis.plot(epochs, [row["train_loss"] for row in history], "k-o", label="train loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("train loss")
    metric_axis = loss_axis.twinx()
    for name in (n for n in history[0] if n not in ("epoch", "train_loss", "seconds")):
        metric_axis.plot(epochs, [row[name] for row in history], "-o", label=f"dev {name}")
    metric_axis.set_ylabel("dev metric (%)")
    metric_axis.axvline(epochs[-1], color="grey", linestyle=":", label="exported epoch")
    handles = loss_axis.get_legend_handles_labels()
    more = metric_axis.get_legend_handles_labels()
    metric_axis.legend(handles[0] + more[0], handles[1] + more[1], loc="center right", fontsize=8)
    figure.tight_layout()
    return png(figure)


def confusion_matrix_png(gold: Sequence[str], predicted: Sequence[str], known: Sequence[str]) -> bytes:
    """Counts of (gold, predicted) pairs. Rows: the model's labels, then gold labels it never saw."""
    rows = list(known) + sorted(set(gold) - set(known))
    columns = list(known)
    index_row = {label: i for i, label in enumerate(rows)}
    index_column = {label: i for i, label in enumerate(columns)}
    counts = [[0] * len(columns) for _ in rows]
    for g, p in zip(gold, predicted, strict=True):
        counts[index_row[g]][index_column[p]] += 1
    size = max(4.0, 0.35 * len(rows) + 2)
    figure, axis = plt.subplots(figsize=(size + 1, size), dpi=100)
    image = axis.imshow([[min(c, 50) for c in row] for row in counts], cmap="Blues")
    axis.set_xticks(range(len(columns)), columns, rotation=90, fontsize=7)
    axis.set_yticks(range(len(rows)), [r if r in index_column else f"{r} (unseen)" for r in rows], fontsize=7)
    for r, row in enumerate(counts):
        for c, count in enumerate(row):
            if count:
                axis.text(c, r, str(count), ha="center", va="center", fontsize=6,
                          color="white" if count > 25 else "black")
    axis.set_xlabel("predicted")
    axis.set_ylabel("gold (dev)")
    figure.colorbar(image, ax=axis, shrink=0.6, label="count (colour capped at 50)")
    figure.tight_layout()
    return png(figure)


def png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()
