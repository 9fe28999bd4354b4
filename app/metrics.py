"""Prometheus instruments; no other module imports prometheus_client.

Always in multiprocess mode, so `uvicorn --workers N` (or `python -m app` with SEQSERVE_WORKERS) is one
server to Prometheus: every worker writes its samples to a folder shared by the workers of one server,
and a scrape of any worker sums them. Gauges say how they combine: queue depth and loaded models are
summed over live workers (`livesum`), GPU memory too.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import tempfile
from pathlib import Path

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_DB_FILE = re.compile(r"_(\d+)\.db$")


def server_metrics_dir(configured: Path | None) -> Path:
    """The folder this server's workers share: configured, or keyed by the process that started them.

    uvicorn starts workers with multiprocessing, so siblings share their parent's pid; a single process
    keys the folder by its own pid, so two servers started side by side never mix their counts.
    """
    if configured is not None:
        return configured
    return Path(tempfile.gettempdir()) / f"seqserve-metrics-{server_owner()}"


def server_owner() -> int:
    """The pid that stands for this server run: the workers' parent, or this process when it is alone."""
    parent = multiprocessing.parent_process()
    return parent.pid if parent is not None else os.getpid()


def prepare_metrics_dir(path: Path) -> None:
    """Create the folder and remove files left by processes that no longer run (a previous server run)."""
    path.mkdir(parents=True, exist_ok=True)
    for file in path.glob("*.db"):
        match = _DB_FILE.search(file.name)
        if match and not _alive(int(match.group(1))):
            file.unlink(missing_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)  # read by prometheus_client when metrics are made


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Metrics:
    """The service's instruments. Create after `prepare_metrics_dir`; one instance per app."""

    def __init__(self, directory: Path) -> None:
        prepare_metrics_dir(directory)
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, values

        # The value class is picked when prometheus_client is first imported; pick it again here so the
        # samples land in this folder even if something imported the library before the folder was set.
        values.ValueClass = values.MultiProcessValue()

        self.directory = directory
        self._registry = CollectorRegistry(auto_describe=True)
        reg = self._registry
        self.request_latency = Histogram(
            "seqserve_request_duration_seconds", "HTTP request latency", ["route", "method", "status"],
            buckets=LATENCY_BUCKETS, registry=reg,
        )
        self.batch_size = Histogram(
            "seqserve_batch_size", "Texts per model forward", ["model"], buckets=BATCH_BUCKETS, registry=reg
        )
        self.inference_seconds = Histogram(
            "seqserve_inference_duration_seconds", "Time of one batch: tokenize, forward, decode", ["model"],
            buckets=LATENCY_BUCKETS, registry=reg,
        )
        self.queue_wait = Histogram(
            "seqserve_queue_wait_seconds", "Time a text waits in the queue before its batch starts", ["model"],
            buckets=LATENCY_BUCKETS, registry=reg,
        )
        self.queue_depth = Gauge(
            "seqserve_queue_depth", "Texts waiting per model, summed over workers", ["model"],
            multiprocess_mode="livesum", registry=reg,
        )
        self.rejected = Counter(
            "seqserve_rejected_total", "Requests refused before inference", ["reason"], registry=reg
        )
        self.model_loads = Counter(
            "seqserve_model_loads_total", "Bundle versions loaded (result ok) or refused (result failed)",
            ["model", "version", "result"], registry=reg,
        )
        self.model_load_seconds = Histogram(
            "seqserve_model_load_duration_seconds", "Time to verify, place and warm one bundle version", ["model"],
            buckets=(0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0), registry=reg,
        )
        self.model_versions = Gauge(
            "seqserve_model_versions", "Versions of each bundle a worker serves (the most of any live worker)",
            ["model"], multiprocess_mode="livemax", registry=reg,
        )
        self.abstained = Counter(
            "seqserve_abstained_total", "Texts a bundle answered as out of its scope (before a request's opt-out)",
            ["model"], registry=reg,
        )
        self.model_loaded = Gauge(
            "seqserve_model_loaded", "Workers that serve this bundle", ["model", "version", "kind", "device"],
            multiprocess_mode="livesum", registry=reg,
        )
        self.model_gpu_bytes = Gauge(
            "seqserve_model_gpu_memory_bytes", "GPU memory of each bundle version's weights, summed over workers",
            ["model", "version"], multiprocess_mode="livesum", registry=reg,
        )

    def render(self) -> tuple[bytes, str]:
        """Text exposition of the whole server: every live and past worker of this run, summed."""
        from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
        from prometheus_client.multiprocess import MultiProcessCollector

        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(self.directory))
        return generate_latest(registry), CONTENT_TYPE_LATEST

    def mark_process_dead(self) -> None:
        """Drop this process's live gauges at shutdown so sums over live workers stay true."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid(), str(self.directory))
