"""Operators' load and unload requests, in order, where every worker of one server reads them.

A request to the repository endpoints reaches one worker; the others learn of it from this file in the
folder the workers of a server already share (app.metrics), and apply the actions they have not applied
yet in the same order, so every worker ends in the same state. A worker started later (a respawn)
applies them all from the first. Appends hold an exclusive lock and reads a shared one, so no line is read half written.
"""

from __future__ import annotations

import fcntl
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Action = Literal["load", "unload"]


@dataclass(frozen=True)
class Step:
    seq: int
    action: Action
    name: str
    version: str | None  # None: every version of the name


class ControlLog:
    def __init__(self, server_dir: Path, owner: int) -> None:
        self.path = server_dir / f"repository-actions-{owner}.jsonl"  # one log per server run, never an old one

    def append(self, action: Action, name: str, version: str | None) -> None:
        with self.path.open("a+", encoding="utf-8") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            handle.write(json.dumps({"action": action, "name": name, "version": version}) + "\n")

    def since(self, seq: int) -> list[Step]:
        """The steps after the first `seq` ones."""
        try:
            with self.path.open(encoding="utf-8") as handle:
                fcntl.flock(handle, fcntl.LOCK_SH)  # never a line half written
                lines = handle.read().splitlines()
        except FileNotFoundError:
            return []
        steps = []
        for number, line in enumerate(lines[seq:], start=seq + 1):
            row = json.loads(line)
            steps.append(Step(number, row["action"], row["name"], row["version"]))
        return steps
