"""Helpers for tests that talk HTTP: an in-process app with its lifespan, and a live uvicorn subprocess."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = REPO / "model"
DATA_DIR = Path(os.environ.get("SEQSERVE_DATA", REPO.parent / "shared" / "data"))  # train/dev splits, read in place
SPECS_DIR = DATA_DIR.parent / "specs"  # public specs beside the data (Open Inference Protocol, KServe CRDs), read in place


def shared_spec(relative: str) -> Path:
    """A file under SPECS_DIR: skipped without it, except in CI (CI=true), where it must be there."""
    path = SPECS_DIR / relative
    if not path.is_file():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{relative} not found under {SPECS_DIR} (SEQSERVE_DATA's parent holds specs/)")
        pytest.skip(f"{relative} not found under {SPECS_DIR} (set SEQSERVE_DATA)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def inprocess_client(settings: Settings | FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app (built from `settings`, or one the test holds) served through httpx's ASGI transport, with
    its lifespan run (load, warm, drain)."""
    app = settings if isinstance(settings, FastAPI) else create_app(settings)
    async with LifespanManager(app, startup_timeout=120, shutdown_timeout=60) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            yield client


class LiveServer:
    """A live server subprocess on a free port, configured through SEQSERVE_* variables.

    `uvicorn app.main:app` by default; with `launcher=True`, `python -m app` (what the container runs).
    """

    def __init__(
        self, env: Mapping[str, str], args: tuple[str, ...] = (), port: int | None = None, launcher: bool = False
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._env = {**os.environ, "PYTHONUNBUFFERED": "1", **env}
        self._args = args
        self._launcher = launcher
        self.process: subprocess.Popen[str] | None = None
        self.output = ""

    def start(self, wait_ready: bool = True, timeout: float = 120) -> LiveServer:
        if self._launcher:
            command = [sys.executable, "-m", "app", *self._args]
            env = {**self._env, "SEQSERVE_HOST": "127.0.0.1", "SEQSERVE_PORT": str(self.port), "SEQSERVE_LOG_LEVEL": "warning"}
        else:
            command = [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(self.port)]
            command += ["--log-level", "warning", *self._args]
            env = self._env
        self.process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        if wait_ready:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: {self.read_output()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise TimeoutError(f"server not ready within {timeout} s: {self.read_output()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.read_output()
        return self.process.returncode

    def read_output(self) -> str:
        assert self.process is not None
        if self.process.poll() is not None and self.process.stdout is not None and not self.process.stdout.closed:
            self.output += self.process.stdout.read()
            self.process.stdout.close()
        return self.output

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def live_server(env: Mapping[str, str], args: tuple[str, ...] = ()) -> Iterator[LiveServer]:
    server = LiveServer(env, args)
    with server:
        yield server


def metric_samples(text: str, name: str) -> dict[str, float]:
    """`{label-string: value}` for every sample of one metric in a Prometheus text exposition."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key[len(name) :]] = float(value)
    return samples
