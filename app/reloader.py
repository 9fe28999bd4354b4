"""Keeps the served versions in step with the repository: at start-up, on every poll, on operators' requests.

A new or changed version folder is loaded beside what serves (verified, placed and warmed in a thread),
then each name's default is picked again in one assignment on the event loop. A version whose folder went
away, or that an operator unloaded, leaves the lookup first; its batcher then answers what was queued for
it, and only then is it dropped. A version that cannot be served is refused with its reason (repository
listing, `seqserve_model_loads_total{result="failed"}`, one log line) while the old one keeps answering;
it is tried again once its folder changes, or when an operator asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from app.bundles import ServedBundle, forget, load_served_bundle, return_freed_memory, where
from app.config import Settings
from app.control_log import ControlLog, Step
from app.metrics import Metrics
from app.registry import Entry, Registry
from app.repository import Candidate, pinned, scan
from model.manifest import BundleError

log = logging.getLogger("seqserve.repository")

CONTROL_TICK_S = 0.25  # how often a worker looks for operators' requests other workers took
UNLOAD_GRACE_S = 0.1  # a version out of the lookup takes work this long (one loop pass is needed)
RELEASE_AFTER_S = 1.0  # from a version's drain to handing its freed memory back to the system


class Reloader:
    def __init__(self, settings: Settings, registry: Registry, metrics: Metrics, control: ControlLog | None) -> None:
        self.settings = settings
        self.registry = registry
        self.metrics = metrics
        self.control = control
        self.held: set[tuple[str, str | None]] = set()  # (name, version or None for all) unloaded by operators
        self.applied = 0  # steps of the control log applied here
        self._lock = asyncio.Lock()  # one change of the registry at a time
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        """Load what the repository holds; refuse start-up if a name has no version that can be served."""
        found = await asyncio.to_thread(scan, self.settings.model_dir)
        listed = ", ".join(found) or "none"
        if not found:
            raise BundleError(str(self.settings.model_dir), "no bundles in the model directory")
        for name in self.settings.models:
            if name not in found:
                raise BundleError(name, f"not found in the model directory (found: {listed})")
        serving = self.settings.models or list(found)
        for name in self.settings.abstain:
            if name not in serving:
                raise BundleError(name, f"SEQSERVE_ABSTAIN names it, but no bundle of that name is loaded ({listed})")
        await self.sync()
        for name in serving:
            if self.registry.default(name) is None:
                reasons = [entry.reason for (entry_name, _), entry in self.registry.entries.items()
                           if entry_name == name and entry.reason]
                raise RuntimeError(reasons[0] if reasons else f"bundle '{name}': no version could be loaded")

    def begin(self) -> None:
        """Start watching the repository (when polling) and the operators' requests (when enabled)."""
        if self.settings.model_poll_s > 0 or self.control is not None:
            self._task = asyncio.create_task(self._watch(), name="seqserve-repository")

    async def close(self) -> None:
        """Stop watching; then answer what every version has queued."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        async with self._lock:
            await asyncio.gather(*(bundle.batcher.close() for bundle in self.registry.serving()))

    async def sync(self, names: frozenset[str] = frozenset(), retry: bool = False) -> None:
        """One pass: unload what left the repository (or is held), load what is new or changed; `retry`
        tries refused versions again even if their folders did not change."""
        async with self._lock:
            scope = names or frozenset(self.settings.models)
            found = await asyncio.to_thread(scan, self.settings.model_dir, scope)
            present = {(c.name, c.folder): c for versions in found.values() for c in versions}
            for key, entry in list(self.registry.entries.items()):
                if (not scope or key[0] in scope) and (key not in present or self.is_held(entry.candidate)):
                    await self._unload(key, entry)
            for key, candidate in present.items():
                if not self.is_held(candidate) and self._wanted(key, candidate, retry):
                    await self._load(key, candidate)
            self._pick_defaults()

    def is_held(self, candidate: Candidate) -> bool:
        return (candidate.name, None) in self.held or (candidate.name, candidate.version) in self.held

    def _wanted(self, key: tuple[str, str], candidate: Candidate, retry: bool) -> bool:
        entry = self.registry.entries.get(key)
        if entry is None:
            return True
        changed = entry.candidate.stamp != candidate.stamp
        return changed and entry.state in ("ready", "failed") or (retry and entry.state == "failed")

    async def _load(self, key: tuple[str, str], candidate: Candidate) -> None:
        old = self.registry.entries.get(key)
        clash = next((b for b in self.registry.serving(candidate.name)
                      if b.version == candidate.version and b.folder != candidate.folder), None)
        if clash is not None:
            problem = f"version {candidate.version} is already served from folder '{clash.folder or candidate.name}'"
            self._refuse(key, old, candidate, str(BundleError(where(candidate), problem)))
            return
        if old is None or old.state == "failed":
            self.registry.entries[key] = Entry(candidate, "loading")
        started = time.perf_counter()
        try:
            # At the threads' normal priority: a loader thread at nice 19 that held the GIL while the CPU was
            # busy stalled the serving threads waiting for it (bench/model_swap.py, 2 workers: p99 during
            # swaps 58-64 ms against 30-35 ms, and loads of up to 19 s instead of 1 s).
            bundle = await asyncio.to_thread(load_served_bundle, candidate, self.settings, self.metrics)
        except BundleError as exc:
            self._refuse(key, old, candidate, str(exc))
            return
        self.metrics.model_load_seconds.labels(candidate.name).observe(time.perf_counter() - started)
        self.metrics.model_loads.labels(candidate.name, bundle.version, "ok").inc()
        bundle.batcher.start()
        self.registry.entries[key] = Entry(candidate, "ready", bundle=bundle)
        if old is not None and old.bundle is not None:  # the folder changed under a served version
            self._pick_defaults()  # the new one answers before the old one's queue closes
            await self._drain(old.bundle)

    def _refuse(self, key: tuple[str, str], old: Entry | None, candidate: Candidate, reason: str) -> None:
        self.metrics.model_loads.labels(candidate.name, candidate.version or "unknown", "failed").inc()
        log.warning("refused: %s", reason)
        if old is not None and old.state == "ready":  # the served version stays; the listing says why
            old.reason = f"a change to its folder was refused: {reason}"
            old.candidate = candidate  # not tried again until the folder changes once more
        else:
            self.registry.entries[key] = Entry(candidate, "failed", reason)

    async def _unload(self, key: tuple[str, str], entry: Entry) -> None:
        entry.state = "unloading"
        self._pick_defaults()  # out of the lookup before its queue drains
        if entry.bundle is not None:
            await self._drain(entry.bundle)
        del self.registry.entries[key]

    async def _drain(self, bundle: ServedBundle) -> None:
        """Close the queue of a version no request can pick any more, answer what it holds, drop it.

        A request that picked it just before may not have queued yet (app.batching.IdleGate waits one pass
        of the event loop first): the queue stays open a moment longer, or that request would get a 503.
        """
        await asyncio.sleep(UNLOAD_GRACE_S)
        await bundle.batcher.close()
        forget(bundle, self.metrics)
        # once its model thread has ended and this pass has let go of it, its memory is free: return it
        asyncio.get_running_loop().call_later(RELEASE_AFTER_S, return_freed_memory)

    def _pick_defaults(self) -> None:
        names = {name for name, _ in self.registry.entries}
        self.registry.pick_defaults({name: pinned(self.settings.model_dir, name) for name in names})
        for name in names:
            self.metrics.model_versions.labels(name).set(len(self.registry.serving(name)))

    async def apply_control(self) -> None:
        """Apply the operators' steps this worker has not applied yet, in order."""
        if self.control is None:
            return
        for step in await asyncio.to_thread(self.control.since, self.applied):
            await self._apply(step)
            self.applied = step.seq

    async def _apply(self, step: Step) -> None:
        if step.action == "unload":
            self.held.add((step.name, step.version))
        else:
            self.held = {(name, version) for name, version in self.held
                         if name != step.name or step.version not in (None, version)}
            self.held.discard((step.name, None))
        await self.sync(frozenset({step.name}), retry=step.action == "load")

    async def _watch(self) -> None:
        poll = self.settings.model_poll_s
        tick = min(poll, CONTROL_TICK_S) if poll > 0 and self.control is not None else (poll or CONTROL_TICK_S)
        next_poll = time.monotonic() + poll
        while True:
            await asyncio.sleep(tick)
            try:
                await self.apply_control()
                if poll > 0 and time.monotonic() >= next_poll:
                    next_poll = time.monotonic() + poll
                    await self.sync()
            except Exception:  # a bad pass must not end the watching; the next one tries again
                log.exception("repository pass failed")
