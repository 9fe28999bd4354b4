"""The repository on disk: which folders are versions, which are not (yet), and which cannot be reached."""

from __future__ import annotations

import json
from pathlib import Path

from app.repository import pinned, scan


def version_folder(path: Path, version: str, created: str = "2026-12-01T10:00:00Z") -> Path:
    path.mkdir(parents=True)
    (path / "manifest.json").write_text(json.dumps({"version": version, "created_at": created}), encoding="utf-8")
    (path / "model.pt").write_bytes(b"weights")
    return path


def test_a_name_folder_is_one_bundle_or_holds_one_folder_per_version(tmp_path: Path) -> None:
    version_folder(tmp_path / "sentiment", "s1")
    version_folder(tmp_path / "atis" / "2026-12-01", "a1")
    version_folder(tmp_path / "atis" / "2026-12-02", "a2", "2026-12-02T10:00:00Z")
    found = scan(tmp_path)
    assert [(c.folder, c.version) for c in found["sentiment"]] == [("", "s1")]
    assert [(c.folder, c.version, c.created_at.day) for c in found["atis"]] == [("2026-12-01", "a1", 1), ("2026-12-02", "a2", 2)]
    assert set(scan(tmp_path, frozenset({"atis"}))) == {"atis"}


def test_half_written_hidden_and_empty_folders_are_not_versions(tmp_path: Path) -> None:
    version_folder(tmp_path / "atis" / "v1", "a1")
    version_folder(tmp_path / "atis" / ".v2-being-written", "a2")
    version_folder(tmp_path / "atis" / "_v3", "a3")
    (tmp_path / "atis" / "v4").mkdir()  # no manifest yet
    (tmp_path / "empty").mkdir()
    version_folder(tmp_path / ".cache", "x")
    assert {name: [c.folder for c in versions] for name, versions in scan(tmp_path).items()} == {"atis": ["v1"]}


def test_a_symlink_out_of_the_repository_is_never_followed(tmp_path: Path) -> None:
    repository, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    version_folder(repository / "atis" / "v1", "a1")
    version_folder(elsewhere / "v2", "a2")
    version_folder(elsewhere / "snips", "s1")
    (repository / "atis" / "v2").symlink_to(elsewhere / "v2")
    (repository / "snips").symlink_to(elsewhere / "snips")
    (repository / "atis" / "v3").symlink_to(repository / "atis" / "v1")  # a link inside is fine
    found = scan(repository)
    assert set(found) == {"atis"} and [c.folder for c in found["atis"]] == ["v1", "v3"]


def test_a_changed_file_changes_the_stamp_and_default_pins_a_version(tmp_path: Path) -> None:
    folder = version_folder(tmp_path / "atis" / "v1", "a1")
    before = scan(tmp_path)["atis"][0].stamp
    (folder / "model.pt").write_bytes(b"other weights")
    assert scan(tmp_path)["atis"][0].stamp != before
    assert pinned(tmp_path, "atis") is None
    (tmp_path / "atis" / "DEFAULT").write_text("a1\n", encoding="utf-8")
    assert pinned(tmp_path, "atis") == "a1"


def test_an_unreadable_manifest_is_still_a_candidate_without_a_version(tmp_path: Path) -> None:
    folder = tmp_path / "atis" / "v1"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{not json", encoding="utf-8")
    assert [(c.folder, c.version) for c in scan(tmp_path)["atis"]] == [("v1", None)]
