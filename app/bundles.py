"""Load one bundle version: verify it, place it on the device, warm it up, attach a batcher.

Verification (manifest, sha256 of every file, vocabulary and label sizes, the recorded example) lives in
`model.runtime.load_bundle`, shared with training's `evaluate`; a failure is one line naming the bundle.
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass
from typing import Any

import torch

from app.batching import BatchObserver, DynamicBatcher
from app.config import Settings
from app.metrics import Metrics
from app.placement import prepare_for_cuda
from app.predictions import prediction_payload
from app.repository import Candidate
from model.manifest import AbstentionRule, BundleError
from model.runtime import BundleRunner, LoadedBundle, Occlusion, load_bundle

log = logging.getLogger("seqserve.bundles")

WARMUP_TEXT = "show me flights from boston to denver on monday morning , please"


@dataclass(eq=False)
class ServedBundle:
    """One loaded version of a bundle, with the batcher that runs it."""

    runner: LoadedBundle
    batcher: DynamicBatcher[str | Occlusion, Any]
    max_batch_size: int
    half: bool
    folder: str = ""  # its version folder in the repository ("" when the bundle is its name's folder)

    @property
    def name(self) -> str:
        return self.runner.manifest.name

    @property
    def version(self) -> str:
        return self.runner.manifest.version

    def info(self, default: bool) -> dict[str, Any]:
        manifest = self.runner.manifest
        return {
            "name": manifest.name,
            "kind": manifest.kind,
            "version": manifest.version,
            "default": default,
            "created_at": manifest.created_at.isoformat(),
            "labels": manifest.labels.model_dump(exclude_none=True),
            "metrics": manifest.metrics,
            "parameters": manifest.parameters,
            "device": str(self.runner.device),
            "half": self.half,
            "max_batch_size": self.max_batch_size,
            "gpu_memory_bytes": gpu_memory_bytes(self.runner),
            "calibration": manifest.calibration.model_dump() if manifest.calibration else None,
            "abstention": self.runner.abstention.model_dump() if self.runner.abstention else None,
        }


def abstention_rule(stored: AbstentionRule | None, overrides: dict[str, float | None], name: str) -> AbstentionRule | None:
    """The rule a bundle serves with: its manifest's, unless SEQSERVE_ABSTAIN names it (a threshold on the
    calibrated top score, keeping the labels that mean out of scope; or `off`: never)."""
    if name not in overrides:
        return stored
    threshold = overrides[name]
    if threshold is None:
        return None
    labels = stored.labels if stored else []
    return AbstentionRule(min_score=threshold, labels=labels, chosen_on="SEQSERVE_ABSTAIN")


def load_served_bundle(candidate: Candidate, settings: Settings, metrics: Metrics) -> ServedBundle:
    """Load, verify, place and warm one version, with its batcher (not started yet).

    Runs off the event loop (start-up, or beside the versions already serving); every failure is one
    BundleError line naming the bundle and, for a version folder, the folder.
    """
    device = settings.torch_device()
    half = settings.half and device.type == "cuda"
    batch_size = settings.batch_size_for(device)
    try:
        runner = load_bundle(candidate.path)  # verified on the CPU, then placed
    except BundleError as exc:
        raise BundleError(where(candidate), exc.problem) from None
    manifest = runner.manifest
    if manifest.name != candidate.name:
        raise BundleError(where(candidate), f"manifest names the bundle '{manifest.name}', not '{candidate.name}'")
    runner.abstention = abstention_rule(manifest.abstention, settings.abstain, candidate.name)
    if device.type == "cuda":
        prepare_for_cuda(runner, device, half)
    batcher = make_batcher(runner, settings, batch_size, metrics)
    warm_up(runner, batch_size)
    metrics.model_loaded.labels(manifest.name, manifest.version, manifest.kind, str(device)).set(1)
    metrics.model_gpu_bytes.labels(manifest.name, manifest.version).set(gpu_memory_bytes(runner))
    log.info("loaded bundle %s %s (%s) on %s", manifest.name, manifest.version, manifest.kind, device)
    return ServedBundle(runner, batcher, batch_size, half, candidate.folder)


def return_freed_memory() -> None:
    """Give the heap's free pages back to the system (glibc's `malloc_trim`), once a version is gone.

    Freeing a version's weights (one block of ~14 MB for `sentiment`) makes glibc keep up to twice that
    block of free heap per arena instead of returning it: each unload left a worker ~30 MB larger
    (bench/model_swap.py). Nothing to do with another C library.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


def where(candidate: Candidate) -> str:
    """How errors name a version: the bundle, and its folder when it has one."""
    return candidate.name + (f" (folder {candidate.folder})" if candidate.folder else "")


def forget(bundle: ServedBundle, metrics: Metrics) -> None:
    """After its batcher drained: the version's gauges go to zero (its memory goes with the last reference)."""
    manifest = bundle.runner.manifest
    metrics.model_loaded.labels(manifest.name, manifest.version, manifest.kind, str(bundle.runner.device)).set(0)
    metrics.model_gpu_bytes.labels(manifest.name, manifest.version).set(0)
    log.info("unloaded bundle %s %s", manifest.name, manifest.version)


def make_batcher(
    runner: LoadedBundle, settings: Settings, batch_size: int, metrics: Metrics
) -> DynamicBatcher[str | Occlusion, Any]:
    name = runner.manifest.name
    batch_hist = metrics.batch_size.labels(name)
    seconds_hist = metrics.inference_seconds.labels(name)
    depth_gauge = metrics.queue_depth.labels(name)
    wait_hist = metrics.queue_wait.labels(name)

    abstained = metrics.abstained.labels(name)

    def on_batch(size: int, seconds: float) -> None:
        batch_hist.observe(size)
        seconds_hist.observe(seconds)

    def predict(items: list[str | Occlusion]) -> list[Any]:
        """Payloads for texts; an occluded variant (only in batches with an explained request) gets its
        answer head's probabilities, which the request turns into attributions."""
        if any(type(item) is Occlusion for item in items):
            answers = runner.predict_with_occlusions(items)
        else:
            answers = runner.predict(items)  # type: ignore[arg-type]
        payloads = [
            answer if isinstance(item, Occlusion) else prediction_payload(item, answer)  # type: ignore[arg-type]
            for item, answer in zip(items, answers)
        ]
        out_of_scope = sum(1 for answer in answers if getattr(answer, "abstained", False))
        if out_of_scope:
            abstained.inc(out_of_scope)
        return payloads

    return DynamicBatcher(
        predict,
        max_batch_size=batch_size,
        max_queue=settings.queue_size_for(runner.device),
        max_wait_s=settings.max_wait_ms / 1000,
        observer=BatchObserver(on_batch=on_batch, on_queue=depth_gauge.set, on_wait=wait_hist.observe),
        name=name,
        size=len,  # a text's (or an occluded variant's) characters: long ones run apart
    )


def warm_up(runner: BundleRunner, batch_size: int) -> None:
    """Run the shapes traffic will bring before reporting ready.

    TorchScript's profiling executor re-optimises on the first calls of each new shape; doing that here
    keeps the first real requests from paying for it.
    """
    short, long = WARMUP_TEXT[:20], " ".join([WARMUP_TEXT] * 4)
    for size in sorted({1, 2, min(8, batch_size), batch_size}):
        for text in (short, long):
            for _ in range(3):
                runner.predict([text] * size)
    if runner.device.type == "cuda":
        torch.cuda.synchronize(runner.device)


def gpu_memory_bytes(runner: BundleRunner) -> int:
    if runner.device.type != "cuda":
        return 0
    tensors = [*runner.module.parameters(), *runner.module.buffers()]
    return sum(tensor.numel() * tensor.element_size() for tensor in tensors)
