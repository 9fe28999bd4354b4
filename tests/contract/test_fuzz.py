"""Schemathesis against the running service's OpenAPI: no 5xx, documented schemas, fields named."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support import REPO

pytestmark = pytest.mark.anyio

EXAMPLES_PER_OPERATION = int(os.environ.get("SEQSERVE_FUZZ_EXAMPLES", "300"))


async def test_every_operation_survives_schema_fuzzing(client: httpx.AsyncClient) -> None:
    if client.base_url.host == "testserver":
        pytest.skip("Schemathesis speaks HTTP: runs against the live server and the container")
    beside_python = Path(sys.executable).parent / "schemathesis"
    command = str(beside_python) if beside_python.exists() else shutil.which("schemathesis")
    assert command, "schemathesis is a dev dependency"
    result = await asyncio.to_thread(
        subprocess.run,
        [
            command, "run", str(client.base_url.join("/openapi.json")),
            "--checks", "all",
            "--max-examples", str(EXAMPLES_PER_OPERATION),
            "--workers", "1",
            "--seed", "20261127",
        ],
        cwd=REPO,
        env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.contract.schemathesis_hooks", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
