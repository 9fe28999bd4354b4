"""Shared fixtures: where the real datasets are (read in place, never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def data_root() -> Path:
    """`$SEQSERVE_DATA` or `../shared/data` beside the repository; tests that need it skip without it."""
    root = Path(os.environ.get("SEQSERVE_DATA", REPO.parent / "shared" / "data"))
    if not (root / "atis" / "train" / "seq.in").is_file():
        pytest.skip(f"datasets not found at {root} (set SEQSERVE_DATA)")
    return root


def write_seq_folder(folder: Path, seq_in: str, seq_out: str, label: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "seq.in").write_text(seq_in, encoding="utf-8")
    (folder / "seq.out").write_text(seq_out, encoding="utf-8")
    (folder / "label").write_text(label, encoding="utf-8")
    return folder
