"""The drain notice: how `python -m app` tells every worker's /readyz that the server is about to stop.

With a drain delay, SIGTERM first only makes the server unready, so that load balancers and endpoint
lists stop sending to it while it goes on answering. The signal reaches the launcher (with several
workers, their supervisor) and the answer to /readyz comes from the workers, so the notice is a file in
the folder every worker of one server already shares.
"""

from __future__ import annotations

from pathlib import Path


class DrainNotice:
    def __init__(self, server_dir: Path) -> None:
        self.path = server_dir / "draining"

    def post(self) -> None:
        self.path.touch()

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def posted(self) -> bool:
        return self.path.exists()
