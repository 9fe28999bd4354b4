"""`python -m training evaluate`: the metrics of an exported bundle on labelled data.

The bundle is loaded and verified as the service loads it, the data are read by the reader of its kind and
scored with its kind's metrics (`training.kinds`), so the figures are those training wrote into the manifest.
Beside them: calibration (ECE, NLL, Brier) of the raw and the served scores, and what the bundle's
abstention rule answers and catches (`training.scope`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from model.manifest import BundleManifest
from training.examples import Examples, ReadOptions
from training.inference import open_bundle, predict_all
from training.kinds import TASKS
from training.scope import Graded, calibration_of, measure_rule


def gold_label_names(manifest: BundleManifest) -> dict[str, str] | None:
    """The `--label-names` mapping the bundle was trained with (None: labels were used as found).

    Data whose labels are already the class names (`positive`) are read as they are, so both the raw
    form of a dataset and a relabelled copy can be scored."""
    names = manifest.training.get("label_names")
    if not names:
        return None
    return {**names, **{name: name for name in manifest.labels.classes or [] if name not in names}}


def evaluate_bundle(
    bundle_dir: Path, data_path: Path, data_format: str = "auto",
    text_column: str | None = None, label_column: str | None = None, out_of_scope: Sequence[str] = (),
) -> dict[str, Any]:
    """Metrics of the exported bundle (loaded and verified by `load_bundle`, i.e. what the service runs),
    with abstention off (it never changes a label); then `calibration` and, for a bundle with a rule,
    `abstention` (also measured on each `out_of_scope` data file).

    A classifier trained with `--label-names` maps the data's gold labels the same way (from its manifest)."""
    manifest, runner = open_bundle(Path(bundle_dir))
    examples = read_examples(manifest, Path(data_path), data_format, text_column, label_column)
    predictions = predict_all(runner, [example.text for example in examples])
    labels = manifest.sentence_labels()
    graded = Graded.of(runner, examples, labels)
    temperature = runner.temperature
    calibration = calibration_of(graded, temperature, "")
    result: dict[str, Any] = {
        "examples": len(examples), **TASKS[manifest.kind].metrics(examples, predictions),
        "calibration": {"temperature": temperature, "raw": calibration.before, "calibrated": calibration.after},
    }
    if manifest.abstention is not None:
        within = manifest.training.get("within_scope", ())
        result["abstention"] = measure_rule(manifest.abstention, runner, graded, labels, temperature, out_of_scope,
                                            within)
    return result


def read_examples(
    manifest: BundleManifest, path: Path, data_format: str, text_column: str | None, label_column: str | None
) -> Examples:
    """Labelled data through the reader of the bundle's kind; a classifier's gold labels are mapped with the
    `--label-names` it was trained with."""
    options = ReadOptions(data_format, text_column, label_column, gold_label_names(manifest))
    return TASKS[manifest.kind].data.read(path, options)
