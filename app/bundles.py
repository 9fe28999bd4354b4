"""Find the bundles to serve, verify and load them onto the device, warm them up, attach a batcher.

Verification (manifest, sha256 of every file, vocabulary and label sizes, the recorded example) lives in
`model.runtime.load_bundle`, shared with training's `evaluate`; a failure is one line naming the bundle.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from app.batching import BatchObserver, DynamicBatcher
from app.config import Settings
from app.metrics import Metrics
from app.placement import keep_fp32_exact, prepare_for_cuda
from app.predictions import prediction_payload
from model.manifest import AbstentionRule, BundleError
from model.runtime import BundleRunner, LoadedBundle, Occlusion, load_bundle

log = logging.getLogger("seqserve.bundles")

WARMUP_TEXT = "show me flights from boston to denver on monday morning , please"


@dataclass(eq=False)
class ServedBundle:
    runner: LoadedBundle
    batcher: DynamicBatcher[str | Occlusion, Any]
    max_batch_size: int
    half: bool

    @property
    def name(self) -> str:
        return self.runner.manifest.name

    @property
    def version(self) -> str:
        return self.runner.manifest.version

    def info(self) -> dict[str, Any]:
        manifest = self.runner.manifest
        return {
            "name": manifest.name,
            "kind": manifest.kind,
            "version": manifest.version,
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


def bundle_dirs(model_dir: Path, names: Sequence[str]) -> list[Path]:
    """Every sub-folder of `model_dir` is a bundle (hidden folders and caches aside), or only `names`."""
    if not model_dir.is_dir():
        raise BundleError(str(model_dir), "model directory does not exist")
    found = {
        path.name: path
        for path in sorted(model_dir.iterdir())
        if path.is_dir() and not path.name.startswith((".", "_"))
    }
    if names:
        missing = [name for name in names if name not in found]
        if missing:
            raise BundleError(missing[0], f"not found in the model directory (found: {', '.join(found) or 'none'})")
        return [found[name] for name in names]
    if not found:
        raise BundleError(str(model_dir), "no bundles in the model directory")
    return list(found.values())


def load_served_bundles(settings: Settings, metrics: Metrics) -> dict[str, ServedBundle]:
    """Load, verify and warm every bundle; raises BundleError on the first one that cannot be served."""
    device = settings.torch_device()
    half = settings.half and device.type == "cuda"
    if device.type == "cuda":
        keep_fp32_exact()
    batch_size = settings.batch_size_for(device)
    served: dict[str, ServedBundle] = {}
    paths = bundle_dirs(settings.model_dir, settings.models)
    for name in settings.abstain:
        if name not in {path.name for path in paths}:
            raise BundleError(name, "SEQSERVE_ABSTAIN names it, but no bundle of that name is loaded")
    for path in paths:
        runner = load_bundle(path)  # verified on the CPU, then placed
        if runner.manifest.name != path.name:
            raise BundleError(path.name, f"manifest names the bundle '{runner.manifest.name}', not its folder's name")
        runner.abstention = abstention_rule(runner.manifest.abstention, settings.abstain, path.name)
        if device.type == "cuda":
            prepare_for_cuda(runner, device, half)
        batcher = make_batcher(runner, settings, batch_size, metrics)
        warm_up(runner, batch_size)
        served[runner.manifest.name] = ServedBundle(runner, batcher, batch_size, half)
        manifest = runner.manifest
        metrics.model_loaded.labels(manifest.name, manifest.version, manifest.kind, str(device)).set(1)
        metrics.model_gpu_bytes.labels(manifest.name).set(gpu_memory_bytes(runner))
        log.info("loaded bundle %s %s (%s) on %s", manifest.name, manifest.version, manifest.kind, device)
    return served


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
