"""Workers of one server share a metrics folder; files of finished runs are cleaned at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.metrics import prepare_metrics_dir, server_metrics_dir


def test_configured_folder_wins(tmp_path: Path) -> None:
    assert server_metrics_dir(tmp_path) == tmp_path


def test_single_process_keys_the_folder_by_its_own_pid() -> None:
    assert server_metrics_dir(None).name == f"seqserve-metrics-{os.getpid()}"


def test_files_of_dead_processes_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    (tmp_path / f"counter_{dead_pid}.db").write_bytes(b"x")
    (tmp_path / f"histogram_{os.getpid()}.db").write_bytes(b"x")
    prepare_metrics_dir(tmp_path)
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"histogram_{os.getpid()}.db"]
