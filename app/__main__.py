"""`python -m app`: serve with SEQSERVE_WORKERS processes acting as one server (the container's command).

Settings come from the environment as for `uvicorn app.main:app`; this adds the worker count, a fresh
metrics folder shared by the workers, a graceful-shutdown bound of REQUEST_TIMEOUT_S, the drain delay
(SEQSERVE_DRAIN_DELAY_S: unready but serving, then drain), and, with several workers, a supervisor that
closes the listening socket as soon as the drain begins.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType

import uvicorn
from pydantic import ValidationError
from uvicorn.supervisors import Multiprocess

from app.config import Settings
from app.drain_notice import DrainNotice
from app.metrics import server_metrics_dir
from model.validation import first_error

STARTUP_FAILURE = 3  # uvicorn's exit code when the app refuses to start
ACCEPT_DRAIN_S = 0.05  # time to accept connections already queued in the kernel before closing


def stop_listening(sockets: list[socket.socket]) -> None:
    """Shrink the kernel's accept queue to one slot before closing the socket.

    Closing a listening socket resets every connection still queued in it: clients that connected and
    sent their request before the signal. With the queue shrunk, new connections wait at SYN (and are
    refused once the socket closes) while the server accepts and answers the ones already queued.
    """
    for sock in sockets:
        with socket.socket(fileno=os.dup(sock.fileno())) as same_socket:
            same_socket.listen(0)


class DelayedDrain:
    """The first SIGTERM posts the drain notice (/readyz turns 503) and starts the drain `delay_s` later;
    until then the server keeps accepting and answering. A second signal drains at once."""

    def __init__(self, delay_s: float, notice: DrainNotice) -> None:
        self.delay_s = delay_s
        self.notice = notice
        self.announced = False

    def defer(self, drain: Callable[[], None]) -> bool:
        """Run `drain` after the delay and return True, or return False: drain now."""
        if self.delay_s <= 0 or self.announced:
            return False
        self.announced = True
        self.notice.post()
        timer = threading.Timer(self.delay_s, drain)
        timer.daemon = True
        timer.start()
        return True


class DrainingServer(uvicorn.Server):
    """One worker: the drain delay, then accept what the kernel already queued, then uvicorn's graceful
    shutdown."""

    def __init__(self, config: uvicorn.Config, delayed_drain: DelayedDrain) -> None:
        super().__init__(config)
        self.delayed_drain = delayed_drain

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if not self.delayed_drain.defer(functools.partial(super().handle_exit, sig, frame)):
            super().handle_exit(sig, frame)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        stop_listening([sock for server in self.servers for sock in server.sockets])  # type: ignore[misc]
        await asyncio.sleep(ACCEPT_DRAIN_S)
        await super().shutdown(sockets)


class DrainingMultiprocess(Multiprocess):
    """Several workers: uvicorn's supervisor keeps its copy of the listening socket open until every
    worker has drained, so connections made during the drain would wait in the queue and be reset at the
    end. Here the queue shrinks, the workers accept what it holds, and the supervisor's copy closes before
    the workers are told to stop.
    """

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket], delayed_drain: DelayedDrain) -> None:
        super().__init__(config, sockets)
        self.delayed_drain = delayed_drain

    def handle_term(self) -> None:
        if not self.delayed_drain.defer(self.should_exit.set):
            super().handle_term()

    def terminate_all(self) -> None:
        stop_listening(self.sockets)
        time.sleep(ACCEPT_DRAIN_S)
        for sock in self.sockets:
            sock.close()
        super().terminate_all()


def main() -> None:
    try:
        settings = Settings()
    except ValidationError as exc:
        field, message = first_error(exc, "settings")
        sys.exit(f"error: SEQSERVE_{field.split('.')[0].upper()}: {message}")
    metrics_dir = server_metrics_dir(settings.metrics_dir)
    if settings.metrics_dir is None:
        shutil.rmtree(metrics_dir, ignore_errors=True)  # a fresh folder per run: counters start at zero
    metrics_dir.mkdir(parents=True, exist_ok=True)
    notice = DrainNotice(metrics_dir)
    notice.clear()  # left by an earlier run that shared this folder
    delayed_drain = DelayedDrain(settings.drain_delay_s, notice)
    config = uvicorn.Config(
        "app.main:app",
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.request_timeout_s) + 1,
        access_log=False,
        http="app.http_protocol:DrainingHttpToolsProtocol",
    )
    if settings.workers == 1:
        server = DrainingServer(config, delayed_drain)
        server.run()
        if not server.started:
            sys.exit(STARTUP_FAILURE)
        return
    supervisor = DrainingMultiprocess(config, [config.bind_socket()], delayed_drain)
    supervisor.run()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
