"""Test harness for LeanServer: a server in a thread, raw-socket helpers, small ASGI apps, and a
fake transport to drive one `HttpConnection` byte by byte without sockets."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import uvloop

from plano.http.connection import HttpConnection, Shared
from plano.http.server import LeanServer

Scope = Any
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]
TEXT = (b"content-type", b"text/plain")


@dataclass
class Running:
    server: LeanServer
    port: int
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread

    def connect(self, rcvbuf: int | None = None) -> socket.socket:
        sock = socket.socket()
        if rcvbuf is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", self.port))
        return sock

    def soon(self, fn: Callable[[], Any]) -> None:
        self.loop.call_soon_threadsafe(fn)

    def join(self) -> None:
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the server did not exit"


def listening_socket(sndbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if sndbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextmanager
def serving(app: App, sndbuf: int | None = None, **kw: Any) -> Iterator[Running]:
    """LeanServer on 127.0.0.1:<free port> in a thread; asks it to exit and joins it after."""
    sock = listening_socket(sndbuf)
    port = sock.getsockname()[1]
    started = threading.Event()
    server = LeanServer(app, on_started=started.set, **kw)
    loop = uvloop.new_event_loop()
    errors: list[BaseException] = []

    def target() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(server.serve([sock]))
        except BaseException as exc:
            errors.append(exc)
        finally:
            started.set()
            loop.close()

    thread = threading.Thread(target=target, name="lean-server", daemon=True)
    thread.start()
    started.wait(timeout=10)
    assert server.started, errors
    running = Running(server, port, loop, thread)
    try:
        yield running
    finally:
        server.request_exit()
        running.join()
        assert not errors, errors


# -- raw socket helpers ---------------------------------------------------------------------
def recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise AssertionError(f"EOF after {len(buf)} of {n} bytes: {bytes(buf[:300])!r}")
        buf += chunk
    return bytes(buf)


def expect(sock: socket.socket, data: bytes) -> None:
    assert recv_exact(sock, len(data)) == data


def recv_all(sock: socket.socket) -> bytes:
    """Everything until the server closes (a reset counts as a close)."""
    buf = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return bytes(buf)
        if not chunk:
            return bytes(buf)
        buf += chunk


def assert_eof(sock: socket.socket) -> None:
    assert recv_all(sock) == b""


def ok(body: bytes, extra: bytes = b"", status: int = 200) -> bytes:
    """The exact response `echo` (and apps like it) send for `body`."""
    line = b"HTTP/1.1 %d %s\r\n" % (status, HTTPStatus(status).phrase.encode())
    return b"%scontent-type: text/plain\r\ncontent-length: %d\r\n%s\r\n%s" % (
        line,
        len(body),
        extra,
        body,
    )


def head_of(response: bytes) -> bytes:
    return response[: response.index(b"\r\n\r\n") + 4]


# -- apps -----------------------------------------------------------------------------------
async def read_all(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        assert message["type"] == "http.request", message
        parts.append(message["body"])
        if not message["more_body"]:
            return b"".join(parts)


async def send_text(send: Send, body: bytes, status: int = 200) -> None:
    headers = [TEXT, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers `<method> <path> <query>|<request body>` with a content-length."""
    if scope["type"] != "http":
        return
    body = await read_all(receive)
    method, path = scope["method"].encode(), scope["path"].encode()
    await send_text(send, b"%s %s %s|%s" % (method, path, scope["query_string"], body))


async def stream(scope: Scope, receive: Receive, send: Send) -> None:
    """A response without content-length: chunks `hello`, `` (skipped) and ` world`."""
    if scope["type"] != "http":
        return
    await read_all(receive)
    await send({"type": "http.response.start", "status": 200, "headers": [TEXT]})
    for part in (b"hello", b"", b" world"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


# -- one connection on a fake transport -----------------------------------------------------
class FakeTransport:
    """Collects what the connection writes; records read pauses; closes like a real one."""

    def __init__(self, loop: asyncio.AbstractEventLoop, conn: HttpConnection) -> None:
        self.loop = loop
        self.conn = conn
        self.out = bytearray()
        self.reading = True
        self.closing = False
        self.closed = asyncio.Event()
        self.resumed = asyncio.Event()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8080), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def write(self, data: bytes) -> None:
        assert not self.closing, "write after close"
        self.out += data

    def writelines(self, parts: list[bytes]) -> None:
        for part in parts:
            self.write(part)

    def pause_reading(self) -> None:
        self.reading = False

    def resume_reading(self) -> None:
        self.reading = True
        self.resumed.set()

    def close(self) -> None:
        if not self.closing:
            self.closing = True
            self.loop.call_soon(self._lost)

    abort = close

    def _lost(self) -> None:
        self.conn.connection_lost(None)
        self.closed.set()

    def can_write_eof(self) -> bool:
        return False

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 0


def fake_connection(
    app: App, keep_alive_timeout: float = 75.0, **shared: Any
) -> tuple[HttpConnection, FakeTransport]:
    """`shared`: `Shared`'s keyword settings (header_timeout, body_timeout, max_connections)."""
    loop = asyncio.get_running_loop()
    conn = HttpConnection(Shared(app, loop, keep_alive_timeout, **shared))
    transport = FakeTransport(loop, conn)
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport
