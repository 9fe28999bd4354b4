"""The model repository on disk: which folders hold which bundle versions, read without loading any.

`SEQSERVE_MODEL_DIR` holds one folder per bundle name: either a bundle itself (`atis/manifest.json`), or
one folder per version (`atis/<any folder>/manifest.json`). A folder whose name starts with `.` or `_` is
never read, so a version is published by writing it under such a name and renaming it into place (a
rename is atomic); a folder without `manifest.json` is not a version (yet). `NAME/DEFAULT` may hold the
version to answer by default; without it the newest manifest (`created_at`) does.

Names and folders are only ever taken from listing the repository, never joined from a request, and a
symlink that leads outside the repository is skipped, so nothing outside it can be reached.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from model.manifest import MANIFEST_FILE, BundleError

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")  # a bundle name, as the manifest allows it
VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")  # a version as a request may name it
DEFAULT_FILE = "DEFAULT"


@dataclass(frozen=True)
class Candidate:
    """A folder that holds a bundle version, with what can be read of its manifest without loading it."""

    name: str
    folder: str  # the version folder's name; empty for a bundle that is its name's folder itself
    path: Path
    stamp: tuple[int, ...]  # changes when any file of the folder changes: a refused version is retried then
    version: str | None  # None when the manifest cannot be read (loading then says why)
    created_at: datetime | None


def inside(root: Path, path: Path) -> bool:
    """`path` resolves to a place within `root` (a symlink out of the repository does not)."""
    return path.resolve() == root.resolve() or root.resolve() in path.resolve().parents


def visible_folders(folder: Path, root: Path) -> list[Path]:
    """Sub-folders that may hold bundles: not hidden, not `_`-prefixed (being written), not leading outside."""
    return sorted(
        path for path in folder.iterdir()
        if path.is_dir() and not path.name.startswith((".", "_")) and inside(root, path)
    )


def stamp(folder: Path) -> tuple[int, ...]:
    files = sorted(path for path in folder.iterdir() if path.is_file())
    return tuple(value for path in files for value in (path.stat().st_mtime_ns, path.stat().st_size))


def peek(name: str, folder: str, path: Path) -> Candidate:
    """The version and creation time a folder's manifest states (None where it cannot be read)."""
    version = created = None
    try:
        raw = json.loads((path / MANIFEST_FILE).read_text(encoding="utf-8"))
        version = str(raw["version"])
        created = datetime.fromisoformat(str(raw["created_at"]).replace("Z", "+00:00"))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return Candidate(name, folder, path, stamp(path), version, created)


def scan(model_dir: Path, names: frozenset[str] = frozenset()) -> dict[str, list[Candidate]]:
    """Every bundle name (or only `names`) with the version folders found for it; a name folder holding
    neither a manifest nor version folders is left out."""
    if not model_dir.is_dir():
        raise BundleError(str(model_dir), "model directory does not exist")
    found: dict[str, list[Candidate]] = {}
    for folder in visible_folders(model_dir, model_dir):
        if names and folder.name not in names:
            continue
        if (folder / MANIFEST_FILE).is_file():
            found[folder.name] = [peek(folder.name, "", folder)]
            continue
        versions = [peek(folder.name, sub.name, sub) for sub in visible_folders(folder, model_dir)
                    if (sub / MANIFEST_FILE).is_file()]
        if versions:
            found[folder.name] = versions
    return found


def pinned(model_dir: Path, name: str) -> str | None:
    """The version `NAME/DEFAULT` names (one line), if the file exists."""
    path = model_dir / name / DEFAULT_FILE
    try:
        return path.read_text(encoding="utf-8").strip() or None if path.is_file() else None
    except OSError:
        return None
