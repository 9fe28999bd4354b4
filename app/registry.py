"""Every bundle version the service holds, in what state, and which one answers for each name.

Changed only on the event loop, so a request reads one consistent picture: the default of a name is
replaced in one assignment, and a request that picked a version keeps that `ServedBundle` (and its
batcher) until it is answered, whatever changes meanwhile.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from app.bundles import ServedBundle
from app.repository import Candidate

State = Literal["loading", "ready", "unloading", "failed"]


@dataclass(eq=False)
class Entry:
    """One version folder as the service knows it."""

    candidate: Candidate
    state: State
    reason: str | None = None  # why it failed, or why a change to its folder was refused
    bundle: ServedBundle | None = None  # while ready (and unloading)

    @property
    def version(self) -> str | None:
        return self.bundle.version if self.bundle is not None else self.candidate.version


class Registry:
    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Entry] = {}  # by (name, folder)
        self._defaults: dict[str, ServedBundle] = {}

    def names(self) -> list[str]:
        """Names with a version that answers."""
        return sorted(self._defaults)

    def model_entries(self) -> list[str]:
        """What a request may name: every name (its default version) and every `NAME@VERSION` loaded."""
        return [*self.names(), *(f"{bundle.name}@{bundle.version}" for bundle in self.serving())]

    def default(self, name: str) -> ServedBundle | None:
        return self._defaults.get(name)

    def defaults(self) -> list[ServedBundle]:
        return [self._defaults[name] for name in self.names()]

    def find(self, name: str, version: str) -> ServedBundle | None:
        return next((bundle for bundle in self.serving(name) if bundle.version == version), None)

    def serving(self, name: str | None = None) -> list[ServedBundle]:
        """Ready versions (of `name`, or of every name)."""
        return [entry.bundle for (entry_name, _), entry in sorted(self.entries.items())
                if entry.state == "ready" and entry.bundle is not None and name in (None, entry_name)]

    def pick_defaults(self, pins: Mapping[str, str | None]) -> None:
        """Each name's default: its pinned version when that one is ready, else the newest ready manifest
        (created at the same second: the last folder by name)."""
        ready = self.serving()
        defaults: dict[str, ServedBundle] = {}
        for name in {bundle.name for bundle in ready}:
            versions = [bundle for bundle in ready if bundle.name == name]
            pinned = [bundle for bundle in versions if bundle.version == pins.get(name)]
            defaults[name] = pinned[0] if pinned else max(versions, key=lambda b: (created(b), b.folder))
        self._defaults = defaults  # one assignment: a request sees the old defaults or the new ones

    def listing(self, name: str | None = None) -> list[dict[str, Any]]:
        """Every version folder (of `name`) with its state and reason, as the repository endpoint shows it."""
        return [
            {"name": entry_name, "folder": folder, "version": entry.version, "state": entry.state,
             "reason": entry.reason, "default": entry.bundle is not None and self._defaults.get(entry_name) is entry.bundle}
            for (entry_name, folder), entry in sorted(self.entries.items()) if name in (None, entry_name)
        ]


def created(bundle: ServedBundle) -> datetime:
    return bundle.runner.manifest.created_at
