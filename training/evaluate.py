"""`python -m training evaluate`: the metrics of an exported bundle on labelled data.

The bundle is loaded and verified as the service loads it, the data are read by the reader of its kind and
scored with its kind's metrics (`training.kinds`), so the figures are those training wrote into the manifest.
"""

from __future__ import annotations

from pathlib import Path

from model.manifest import BundleManifest
from training.examples import Examples, ReadOptions
from training.inference import open_bundle, predict_all
from training.kinds import TASKS


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
    text_column: str | None = None, label_column: str | None = None,
) -> dict[str, float]:
    """Metrics of the exported bundle (loaded and verified by `load_bundle`, i.e. what the service runs).

    A classifier trained with `--label-names` maps the data's gold labels the same way (from its manifest)."""
    manifest, runner = open_bundle(Path(bundle_dir))
    examples = read_examples(manifest, Path(data_path), data_format, text_column, label_column)
    predictions = predict_all(runner, [example.text for example in examples])
    return {"examples": len(examples), **TASKS[manifest.kind].metrics(examples, predictions)}


def read_examples(
    manifest: BundleManifest, path: Path, data_format: str, text_column: str | None, label_column: str | None
) -> Examples:
    """Labelled data through the reader of the bundle's kind; a classifier's gold labels are mapped with the
    `--label-names` it was trained with."""
    options = ReadOptions(data_format, text_column, label_column, gold_label_names(manifest))
    return TASKS[manifest.kind].data.read(path, options)
