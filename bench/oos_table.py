"""CLINC150's Table 2, on the dev split: in-scope accuracy and out-of-scope recall of three ways to say
"out of scope" with the committed `clinc150` bundle's kind of model, beside the paper's test-split rows.

    python -m bench.oos_table [--bundle model/clinc150] [--threshold-model DIR] [--train] [--data DIR]

- oos-train: the bundle as trained (with the `oos` class), abstaining only when it predicts `oos`;
- oos-threshold: a model of the same recipe trained without the `oos` rows, abstaining below the
  calibrated-score threshold that answers 98.5 % of in-scope dev texts (`--train` trains it into
  `--threshold-model`, about as long as the recipe; otherwise an existing one is read from there);
- kept: the bundle's own rule (`oos` class and threshold), as served.

An abstained in-scope text counts as wrong, as in Larson et al. 2019.
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import replace
from pathlib import Path

from bench.common import arguments, table_head, table_row
from model.manifest import AbstentionRule
from model.runtime import calibrated, load_bundle
from training.abstention import Scored, choose_rule, rule_figures
from training.recipes import recipe_config
from training.scope import Graded, scored
from training.table_data import read_labelled_table
from training.tasks import run

PAPER = [  # Larson et al. 2019, Table 2, "Full" columns: test split, in-scope accuracy / out-of-scope recall
    ("oos-train", "FastText", 89.0, 9.7), ("oos-train", "SVM", 91.0, 14.5), ("oos-train", "CNN", 91.2, 18.9),
    ("oos-train", "DialogFlow", 91.7, 14.0), ("oos-train", "Rasa", 91.5, 45.3), ("oos-train", "MLP", 93.5, 47.4),
    ("oos-train", "BERT", 96.9, 40.3), ("oos-threshold", "CNN", 90.9, 30.9), ("oos-threshold", "Rasa", 90.9, 31.2),
    ("oos-threshold", "MLP", 93.4, 49.1), ("oos-threshold", "BERT", 96.2, 52.3),
]


def measure(bundle: Path, dev: Path, rule: AbstentionRule | None) -> tuple[dict[str, float], AbstentionRule]:
    """(figures, rule) of `bundle` on CLINC150 dev: its own rule, or `rule`, or (None given and the bundle has
    no rule) a threshold answering 98.5 % of the in-scope dev texts."""
    runner = load_bundle(bundle)
    labels = runner.manifest.sentence_labels()
    graded = Graded.of(runner, read_labelled_table(dev), labels)
    texts = scored(calibrated(graded.raw, runner.temperature), labels, graded.gold)
    in_scope = [text for text, name in zip(texts, graded.names) if name != "oos"]
    outside = {"oos": [Scored(text.label, text.score) for text, name in zip(texts, graded.names) if name == "oos"]}
    rule = rule or runner.manifest.abstention or choose_rule(in_scope)
    return rule_figures(rule, in_scope, outside), rule


def train_without_oos(data: Path, out: Path) -> None:
    """The clinc150 recipe on its training rows less the `oos` ones."""
    with tempfile.TemporaryDirectory() as folder:
        train = Path(folder) / "train.csv"
        with (data / "clinc150" / "train.csv").open(encoding="utf-8") as source, train.open("w", encoding="utf-8") as sink:
            writer = csv.writer(sink, lineterminator="\n")
            writer.writerows(row for row in csv.reader(source) if row[1] != "oos")
        config = recipe_config("clinc150", data, out, threads=2)
        run(replace(config, train=str(train), out_of_scope_labels=()))


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--bundle", type=Path, default=Path("model/clinc150"))
    parser.add_argument("--threshold-model", type=Path, default=Path(".bench-out/clinc150-no-oos/clinc150"))
    parser.add_argument("--train", action="store_true", help="train the oos-threshold model first")
    args = parser.parse_args()
    dev = args.data / "clinc150" / "dev.csv"
    if args.train:
        train_without_oos(args.data, args.threshold_model)
    kept, rule = measure(args.bundle, dev, None)
    oos_train, _ = measure(args.bundle, dev, AbstentionRule(labels=["oos"]))
    threshold, threshold_rule = measure(args.threshold_model, dev, None) if args.threshold_model.is_dir() else ({}, None)
    rows = [(way, f"{who} (paper, test split)", f"{acc:.1f}", f"{recall:.1f}") for way, who, acc, recall in PAPER]
    ours = [("oos-train", oos_train, "abstain on `oos` only"),
            ("oos-threshold", threshold, f"no `oos` class, score < {threshold_rule.min_score:g}" if threshold_rule else ""),
            ("kept", kept, f"`oos` or score < {rule.min_score:g}")]
    rows += [(way, f"**seqserve BiLSTM (dev split)**: {how}", f"{fig['in_scope_accuracy']:.1f}",
              f"{fig['abstained_oos']:.1f}") for way, fig, how in ours if fig]
    table_head("setting", "model", "in-scope accuracy", "out-of-scope recall", align="llrr")
    for row in rows:
        table_row(*row)


if __name__ == "__main__":
    main()
