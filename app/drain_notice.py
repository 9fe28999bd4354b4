"""The drain notice: how `python -m app` tells every worker's /readyz that the server is about to stop.

With a drain delay, SIGTERM first only makes the server unready, so that load balancers and endpoint
lists stop sending to it while it goes on answering. The signal reaches the launcher (with several
workers, their supervisor) and the answer to /readyz comes from the workers, so the notice is a file in
the folder every worker of one server already shares. While it is posted, answers carry `Connection:
close` (app/http_protocol.py), so keep-alive clients reconnect, through their balancer, to another replica.
"""

from __future__ import annotations

import time
from pathlib import Path

RECHECK_S = 0.1  # every HTTP request asks; the file is looked at no more often than this


class DrainNotice:
    def __init__(self, server_dir: Path) -> None:
        self.path = server_dir / "draining"
        self._checked_at = float("-inf")
        self._posted = False

    def post(self) -> None:
        self.path.touch()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def posted(self) -> bool:
        now = time.monotonic()
        if now - self._checked_at >= RECHECK_S:
            self._posted, self._checked_at = self.path.exists(), now
        return self._posted
