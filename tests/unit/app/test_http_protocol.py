"""app.http_protocol writes each answer in one piece: a process that dies mid-answer leaves nothing half
sent for a load balancer to pass on (it retries a request with no answer at all)."""

from __future__ import annotations

import asyncio

import pytest
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from app.http_protocol import DrainingHttpToolsProtocol

BODY = b'{"label": "positive"}'


async def whole(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


async def streamed(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    for part in (b"one", b"two"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def failing(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    raise RuntimeError("after the head, before the body")


class Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False
        self.answered = False
        self.closed_by_server = False

    def write(self, data: bytes) -> None:  # type: ignore[override]
        assert not self.closed, "written after close: lost"
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True
        self.closed_by_server |= not self.answered

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str, default: object = None) -> object:
        return {"peername": ("127.0.0.1", 40000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


async def exchange(protocol_class: type[HttpToolsProtocol], app, request: bytes) -> Transport:  # type: ignore[no-untyped-def]
    config = uvicorn.Config(app, http="httptools", log_level="critical", access_log=False, lifespan="off")
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={})
    transport = Transport()
    protocol.connection_made(transport)
    protocol.data_received(request)
    for _ in range(100):
        await asyncio.sleep(0.001)
        if protocol.cycle is None or protocol.cycle.response_complete:
            break
    transport.answered = True  # what follows is the test's own teardown
    protocol.connection_lost(None)
    return transport


REQUEST = b"POST /classify HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n"


def test_uvicorn_alone_writes_the_head_before_the_body() -> None:
    transport = asyncio.run(exchange(HttpToolsProtocol, whole, REQUEST))
    assert len(transport.writes) == 2 and transport.writes[1] == BODY  # what the change is for


@pytest.mark.parametrize("request_bytes", [REQUEST, REQUEST.replace(b"host: x", b"host: x\r\nconnection: close")])
def test_an_answer_is_one_write(request_bytes: bytes) -> None:
    transport = asyncio.run(exchange(DrainingHttpToolsProtocol, whole, request_bytes))
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and transport.writes[0].endswith(b"\r\n\r\n" + BODY)
    assert transport.closed_by_server == (b"connection: close" in request_bytes)


def test_a_streamed_answer_sends_its_head_with_the_first_part() -> None:
    transport = asyncio.run(exchange(DrainingHttpToolsProtocol, streamed, REQUEST))
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n") and transport.writes[0].endswith(b"3\r\none\r\n")
    assert transport.writes[1:] == [b"3\r\ntwo\r\n", b"0\r\n\r\n"]


def test_an_app_failing_after_its_head_answers_500_not_a_truncated_200() -> None:
    transport = asyncio.run(exchange(DrainingHttpToolsProtocol, failing, REQUEST))
    assert len(transport.writes) == 1 and transport.writes[0].startswith(b"HTTP/1.1 500 ")
