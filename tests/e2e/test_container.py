"""The composed container as an operator runs it: non-root, read-only, healthy, answering.

The contract tests (tests/contract) check the HTTP behaviour against the same container; these check what
only the container adds. `.ci/run` runs both with CI=true, against `docker compose up`; elsewhere they
skip: they need SEQSERVE_URL and SEQSERVE_E2E_SERVICE (the compose service to inspect, `api`).
"""

from __future__ import annotations

import os
import subprocess

import httpx
import pytest

from tests.support import REPO

URL = os.environ.get("SEQSERVE_URL")
SERVICE = os.environ.get("SEQSERVE_E2E_SERVICE")

pytestmark = pytest.mark.skipif(
    not (URL and SERVICE), reason="needs the composed service (CI=true bash .ci/run)"
)


def compose(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "compose", *args], cwd=REPO, capture_output=True, text=True, timeout=60)


def in_container(*command: str) -> subprocess.CompletedProcess[str]:
    assert SERVICE is not None
    return compose("exec", "-T", SERVICE, *command)


def test_service_runs_as_the_image_user_not_root() -> None:
    result = in_container("id", "-u")
    assert (result.returncode, result.stdout.strip()) == (0, "10001"), result.stderr


def test_root_filesystem_is_read_only() -> None:
    result = in_container("touch", "/app/model/written-by-the-service")
    assert result.returncode != 0
    assert "Read-only file system" in result.stderr


def test_tmp_is_writable_for_the_metrics_files() -> None:
    result = in_container("touch", "/tmp/written-by-the-service")
    assert result.returncode == 0, result.stderr


def test_pid_1_is_the_launcher_itself_so_sigterm_reaches_it() -> None:
    result = in_container("cat", "/proc/1/cmdline")
    assert result.stdout.split("\0")[:3] == ["python", "-m", "app"]


def test_docker_reports_the_container_healthy() -> None:
    assert SERVICE is not None
    container = compose("ps", "-q", SERVICE).stdout.strip()
    assert container, f"no running container for service {SERVICE}"
    status = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Health.Status}}", container],
        capture_output=True, text=True, timeout=30,
    )
    assert status.stdout.strip() == "healthy"


def test_classify_answers_with_every_served_bundle() -> None:
    assert URL is not None
    served = {bundle["name"] for bundle in httpx.get(f"{URL}/models", timeout=30).json()["models"]}
    response = httpx.post(f"{URL}/classify", json={"text": "I want to fly from Boston to Denver"}, timeout=30)
    assert response.status_code == 200, response.text
    assert set(response.json()["predictions"]) == served
    assert served
