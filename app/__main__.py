"""`python -m app`: serve with SEQSERVE_WORKERS processes acting as one server (the container's command).

Settings come from the environment as for `uvicorn app.main:app`; this adds the worker count, a fresh
metrics folder shared by the workers, a graceful-shutdown bound of REQUEST_TIMEOUT_S, and, with
several workers, a supervisor that closes the listening socket as soon as SIGTERM arrives.
"""

from __future__ import annotations

import shutil
import sys

import uvicorn
from pydantic import ValidationError
from uvicorn.supervisors import Multiprocess

from app.config import Settings
from app.metrics import server_metrics_dir

STARTUP_FAILURE = 3  # uvicorn's exit code when the app refuses to start


class DrainingMultiprocess(Multiprocess):
    """uvicorn's supervisor keeps its copy of the listening socket open until every worker has drained,
    so connections made during the drain wait in the backlog and are reset at the end. Closing it first
    makes them refused at once, while accepted requests finish in the workers.
    """

    def terminate_all(self) -> None:
        for sock in self.sockets:
            sock.close()
        super().terminate_all()


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        sys.exit(f"error: SEQSERVE_{str(first['loc'][0]).upper()}: {first['msg']}")
    metrics_dir = server_metrics_dir(settings.metrics_dir)
    if settings.metrics_dir is None:
        shutil.rmtree(metrics_dir, ignore_errors=True)  # a fresh folder per run: counters start at zero
    metrics_dir.mkdir(parents=True, exist_ok=True)
    config = uvicorn.Config(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 1,
        access_log=False,
    )
    if settings.workers == 1:
        server = uvicorn.Server(config)
        server.run()
        if not server.started:
            sys.exit(STARTUP_FAILURE)
        return
    supervisor = DrainingMultiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
