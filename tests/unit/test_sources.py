"""Every Python file of the project compiles, and every bench imports: scripts no test runs stay runnable."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from tests.support import REPO

SOURCES = sorted(path for folder in ("app", "model", "training", "bench", "deploy", "scripts", "tests")
                 for path in (REPO / folder).rglob("*.py"))
BENCHES = sorted(path.stem for path in (REPO / "bench").glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("path", SOURCES, ids=lambda path: str(path.relative_to(REPO)))
def test_compiles(path: Path) -> None:
    compile(path.read_text(encoding="utf-8"), str(path), "exec")


@pytest.mark.parametrize("name", BENCHES)
def test_bench_imports(name: str) -> None:
    assert importlib.import_module(f"bench.{name}").__doc__, "a bench says what it measures"
