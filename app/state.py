"""ServiceState: what the handlers and the lifespan share on one app (settings, bundles, metrics, readiness)."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.batching import IdleGate
from app.config import Settings
from app.drain_notice import DrainNotice
from app.metrics import Metrics
from app.registry import Registry
from app.reloader import Reloader
from app.schemas import ClassifyRequestBase


@dataclass(eq=False)
class ServiceState:
    """What the handlers share: settings, loaded bundle versions, metrics, readiness. Lives on one app."""

    settings: Settings
    request_model: type[ClassifyRequestBase]
    metrics: Metrics | None = None
    drain_notice: DrainNotice | None = None
    registry: Registry = field(default_factory=Registry)
    reloader: Reloader | None = None
    ready: bool = False
    idle_gate: IdleGate = field(default_factory=IdleGate)

    def accepting_new_clients(self) -> bool:
        """Ready, and no drain announced: what load balancers ask /readyz."""
        return self.ready and not (self.drain_notice is not None and self.drain_notice.posted())

    def count_rejection(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.rejected.labels(reason).inc()
