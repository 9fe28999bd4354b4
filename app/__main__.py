"""`python -m app`: serve with SEQSERVE_WORKERS processes acting as one server (the container's command).

Settings come from the environment as for `uvicorn app.main:app`; this adds the worker count, a fresh
metrics folder shared by the workers, and a graceful-shutdown bound of REQUEST_TIMEOUT_S.
"""

from __future__ import annotations

import shutil
import sys

import uvicorn
from pydantic import ValidationError

from app.config import Settings
from app.metrics import server_metrics_dir


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
    uvicorn.run(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 1,
        access_log=False,
        env_file=None,
    )


if __name__ == "__main__":
    main()
