"""Export: script the model, prove the saved file answers like the eager model, write the bundle.

The bundle is written into a temporary folder beside the target and renamed into place at the end, so
a failed export never leaves a half-written bundle where the service would find it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer

from model.manifest import (
    MODEL_FILE,
    TOKENIZER_FILE,
    AbstentionRule,
    BundleExample,
    BundleManifest,
    Calibration,
    Labels,
    ModelKind,
    VectorsInfo,
    sha256_file,
    write_manifest,
)
from model.runtime import Prediction, prediction_labels
from model.text import load_tokenizer
from training.inference import eager_runner, open_bundle, predict_all
from training.kinds import TASKS
from training.models import parameter_count

PARITY_TOLERANCE = 1e-5


class ExportParityError(RuntimeError):
    """The saved TorchScript does not answer like the eager model it was made from."""


def export_bundle(
    model: torch.nn.Module,
    tokenizer: Tokenizer,
    out_dir: Path,
    *,
    kind: ModelKind,
    labels: Labels,
    max_seq_len: int,
    max_word_chars: int | None,
    training_config: Mapping[str, Any],
    metrics: Mapping[str, Mapping[str, float]],
    parity_texts: Sequence[str],
    extra_files: Mapping[str, bytes] | None = None,
    version: str | None = None,
    vectors: VectorsInfo | None = None,
    calibration: Calibration | None = None,
    abstention: AbstentionRule | None = None,
) -> BundleManifest:
    """Write `out_dir` as a complete bundle and return its manifest.

    `parity_texts` (e.g. the whole dev set) are run through the eager model and through the reloaded
    TorchScript file; labels must be identical and probabilities within 1e-5, or nothing is written.
    """
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    created = datetime.now(timezone.utc).replace(microsecond=0)
    model = model.cpu().eval()
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is frozen upstream
            torch.jit.script(model).save(str(staging / MODEL_FILE))
        tokenizer.save(str(staging / TOKENIZER_FILE))
        for filename, content in (extra_files or {}).items():
            (staging / filename).write_bytes(content)
        draft = BundleManifest(
            name=out_dir.name,
            kind=kind,
            version=version or created.strftime("%Y%m%d-%H%M%S"),
            created_at=created,
            source_commit=source_commit(),
            labels=labels,
            vocab_size=tokenizer.get_vocab_size(),
            max_seq_len=max_seq_len,
            max_word_chars=max_word_chars,
            parameters=parameter_count(model),
            training=dict(training_config),
            metrics={split: dict(values) for split, values in metrics.items()},
            files={path.name: sha256_file(path) for path in sorted(staging.iterdir())},
            vectors=vectors,
            calibration=calibration,
            abstention=abstention,
        )
        manifest = write_checked_manifest(staging, draft, model, list(parity_texts) or ["example"])
        staging.chmod(0o755)  # mkdtemp makes it 0700: the service may run as another user
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def write_checked_manifest(
    staging: Path, draft: BundleManifest, model: torch.nn.Module, texts: Sequence[str]
) -> BundleManifest:
    """Record the eager model's answer (calibrated) on the first text as the manifest's example, write the manifest,
    and refuse the bundle unless the saved files, loaded as the service loads them, answer every text
    like the eager model (with the tokenizer as saved, so a tokenizer that does not round-trip fails too)."""
    tokenizer = load_tokenizer(staging / TOKENIZER_FILE)
    word_chars = TASKS[draft.kind].word_chars(draft.max_word_chars)
    temperature = draft.calibration.temperature if draft.calibration else 1.0
    eager = eager_runner(tokenizer, model, draft.labels, word_chars, torch.device("cpu"), temperature,
                         draft.abstention)
    expected = predict_all(eager, texts)
    labels, scores = prediction_labels(expected[0])
    manifest = draft.model_copy(update={"example": BundleExample(text=texts[0], labels=labels, scores=scores)})
    write_manifest(staging, manifest)
    check_parity(expected, predict_all(open_bundle(staging)[1], texts), texts)
    return manifest


def check_parity(expected: Sequence[Prediction], actual: Sequence[Prediction], texts: Sequence[str]) -> None:
    for text, want, got in zip(texts, expected, actual, strict=True):
        want_labels, want_scores = prediction_labels(want)
        got_labels, got_scores = prediction_labels(got)
        if want_labels != got_labels:
            raise ExportParityError(f"labels differ after export for {text!r}: {want_labels} vs {got_labels}")
        worst = max((abs(a - b) for a, b in zip(want_scores, got_scores)), default=0.0)
        if worst > PARITY_TOLERANCE:
            raise ExportParityError(f"probabilities differ by {worst:.2e} after export for {text!r}")


def source_commit() -> str | None:
    """The git commit the training code came from, when run from a checkout."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return result.stdout.strip() or None
