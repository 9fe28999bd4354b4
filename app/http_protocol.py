"""uvicorn's HTTP protocol with two changes: on shutdown, a request that already reached the socket is
answered; and an answer leaves in one write, head and body together.

uvicorn closes every connection without a request in progress the moment shutdown starts. A client that
had connected and sent its request just before SIGTERM, but whose bytes the event loop had not read yet,
then sees its connection reset: work accepted by the server and lost. Measured with
`bench/restart_under_load.py` against `docker compose restart`: 3 of 18,158 requests. Here a connection
whose request has begun to arrive, or that was made a moment ago and has not sent anything yet, is kept
until its request is answered, with `Connection: close`. The same header goes on every answer while a
drain is announced (the app's lifespan state holds the notice), so keep-alive clients move elsewhere.

uvicorn writes a response's head when the app starts it and its body when the app sends it. A process
that dies between the two (its machine lost) leaves a load balancer holding a head without its body: it
cannot send the request elsewhere any more, and its client gets a truncated answer (through the Swarm
stack's LB, one request in 2 of 10 node losses under load: docs/operations.md). Here the head waits for
the first part of the body and both go in one write, so a replica answers whole or not at all.
"""

from __future__ import annotations

import asyncio
import fcntl
import struct
import termios

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

RECHECK_S = 0.01
FRESH_S = 0.5  # a connection this young that has sent nothing yet is about to send its first request


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    _receiving = False  # between the first byte of a request and its complete headers
    _closing = False  # shutdown has begun: whatever still arrives is answered with Connection: close
    _made_at = 0.0
    _requests = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._made_at = self.loop.time()
        super().connection_made(transport)

    def on_message_begin(self) -> None:
        self._receiving = True
        self._requests += 1
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._receiving = False
        super().on_headers_complete()
        if self.cycle is not None:
            if self._closing or self._drain_announced():
                self.cycle.keep_alive = False
            # The cycle's task is scheduled, not started: it will call this send.
            self.cycle.send = WholeResponse(self.cycle).send  # type: ignore[method-assign]

    def shutdown(self) -> None:
        self._closing = True
        idle = self.cycle is None or self.cycle.response_complete
        if idle and (self._receiving or unread_bytes(self.transport) > 0 or self._awaiting_first_request()):
            # A request is on its way in: look again once the loop has read it. uvicorn's shutdown then
            # closes the connection after that answer (or at once, if it was answered in between).
            self.loop.call_later(RECHECK_S, self.shutdown)
            return
        super().shutdown()

    def _drain_announced(self) -> bool:
        notice = self.app_state.get("drain_notice")
        return notice is not None and notice.posted()

    def _awaiting_first_request(self) -> bool:
        """Just connected, nothing sent yet: its client is writing its request right now."""
        return self._requests == 0 and self.loop.time() - self._made_at < FRESH_S


def unread_bytes(transport: object) -> int:
    """Bytes the kernel holds for this connection that the event loop has not read (0 once closed)."""
    sock = transport.get_extra_info("socket")  # type: ignore[attr-defined]
    if sock is None or sock.fileno() < 0:
        return 0
    try:
        return struct.unpack("i", fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
    except OSError:
        return 0


class WholeResponse:
    """Sends a response's head together with the first part of its body, in one transport write."""

    def __init__(self, cycle: RequestResponseCycle) -> None:
        self.cycle = cycle
        self.send_one = cycle.send  # uvicorn's own
        self.start: dict | None = None

    async def send(self, message: dict) -> None:  # type: ignore[type-arg]
        if message["type"] == "http.response.start" and not self.cycle.response_started:
            self.start = message  # written with the body
            return
        if self.start is None:
            await self.send_one(message)  # type: ignore[arg-type]
            return
        start, self.start = self.start, None
        transport = self.cycle.transport
        held = HeldWrites(transport)
        self.cycle.transport = held  # type: ignore[assignment]
        try:
            await self.send_one(start)  # type: ignore[arg-type]
            await self.send_one(message)  # type: ignore[arg-type]
        finally:
            self.cycle.transport = transport
            held.release()


class HeldWrites:
    """A transport that keeps what is written (and a close) until `release`, then writes it at once."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.parts: list[bytes] = []
        self.close_asked = False

    def write(self, data: bytes) -> None:
        self.parts.append(data)

    def close(self) -> None:
        self.close_asked = True

    def __getattr__(self, name: str) -> object:
        return getattr(self.transport, name)

    def release(self) -> None:
        if self.parts:
            self.transport.write(b"".join(self.parts))
        if self.close_asked:
            self.transport.close()
