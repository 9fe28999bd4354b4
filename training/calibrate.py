"""`python -m training calibrate`: calibrated scores and an abstention rule for a bundle already exported.

The module and its tokenizer stay byte for byte, so every label the bundle answers stays what it was;
the manifest gains `calibration` (and `abstention`) and a new version, its example is recorded again
with calibrated scores, and report.md gains the section training writes, with its reliability diagram.
The new bundle is written beside the old one and renamed into its place once it loads as the service
loads it.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from model.manifest import BundleExample, BundleManifest, sha256_file, write_manifest
from model.runtime import load_bundle, prediction_labels
from training.config import TrainConfig
from training.evaluate import read_examples
from training.inference import open_bundle
from training.report import RELIABILITY, REPORT, reliability_png, scope_section
from training.scope import Scope, fit_scope

SECTION = re.compile(r"\n## Calibration and abstention\n.*?(?=\n## |\Z)", re.S)


def calibrate_bundle(bundle_dir: Path, dev: Path, config: TrainConfig) -> BundleManifest:
    """Fit the temperature (and, unless `config.abstain` is off, the rule) on `dev`; rewrite the bundle."""
    manifest, runner = open_bundle(Path(bundle_dir))
    runner.temperature, runner.abstention = 1.0, None  # fitted on the module's own scores
    examples = read_examples(manifest, Path(dev), config.data_format, config.text_column, config.label_column)
    scope = fit_scope(config, runner, examples, manifest.sentence_labels())
    runner.temperature, runner.abstention = scope.calibration.temperature, scope.abstention
    text = manifest.example.text if manifest.example else examples[0].text
    labels, scores = prediction_labels(runner.predict([text])[0])
    created = datetime.now(timezone.utc).replace(microsecond=0)
    updated = manifest.model_copy(update={
        "version": created.strftime("%Y%m%d-%H%M%S"), "created_at": created, "calibration": scope.calibration,
        "abstention": scope.abstention, "example": BundleExample(text=text, labels=labels, scores=scores),
    })
    return replace_bundle(Path(bundle_dir), updated, scope)


def replace_bundle(bundle_dir: Path, manifest: BundleManifest, scope: Scope) -> BundleManifest:
    staging = Path(tempfile.mkdtemp(prefix=f".{bundle_dir.name}-", dir=bundle_dir.parent)) / bundle_dir.name
    try:
        shutil.copytree(bundle_dir, staging)
        report = staging / REPORT
        old = SECTION.sub("", report.read_text(encoding="utf-8")).rstrip("\n") if report.exists() else ""
        report.write_text(old + "\n\n" + "\n".join(scope_section(scope)), encoding="utf-8")
        (staging / RELIABILITY).write_bytes(reliability_png(scope.before, scope.after))
        files = {name: sha256_file(staging / name) for name in sorted({*manifest.files, REPORT, RELIABILITY})}
        manifest = manifest.model_copy(update={"files": files})
        write_manifest(staging, manifest)
        load_bundle(staging)  # verified as the service verifies it, or nothing is replaced
        retired = bundle_dir.with_name(f".{bundle_dir.name}-replaced")
        bundle_dir.rename(retired)
        staging.rename(bundle_dir)
        shutil.rmtree(retired)
    finally:
        shutil.rmtree(staging.parent, ignore_errors=True)
    return manifest
