"""A lean pooled HTTP/1.1 client for upstream calls: asyncio protocols and the httptools parser.

Why not aiohttp's client: profiled under load, aiohttp's per-request machinery (request and
payload objects, auto headers, timer contexts, the connector's bookkeeping) was more than half
of the gateway's CPU per proxied request. This client does only what an upstream call needs:

- one keep-alive pool per (scheme, host, port); TLS through the standard `ssl` module with the
  system's trust store and hostname checking; a new connection when the pool is empty;
- the request written in one `write` (head and body); the response parsed by httptools (the
  parser uvicorn uses), its body decoded from chunked framing and handed over as it arrives;
- flow control: reading pauses while more than `HIGH_WATER` bytes wait for a `chunks()`
  consumer (never under `read()`, which takes the body only once it is whole);
- timeouts: connect, total (the whole exchange) and read (the longest silence between bytes);
- no request is ever sent twice: a pooled connection is checked before it is reused (closed
  by the peer as the event loop saw it; after `PROBE_IDLE_S` idle, also one non-blocking peek
  at the socket: end of stream or stray bytes) and dropped unused if the peer is gone
  (`Http1Client.stale` counts those). Once the request was written, a connection that dies
  without an answer is an error for the caller's retry policy (it may have been processed);
- connections that cannot be reused (no keep-alive, body not read to the end, errors) are closed.

Until the response head, errors surface as `TimeoutError`, `ConnectionError`/`OSError`,
`ServerDisconnected` or `ProtocolViolation`; errors of the body pass through the `error_map` the
client was given (`plano.upstream.lean` maps both onto `plano.errors`).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import httptools

from plano.http.response import (
    HIGH_WATER,
    ErrorMap,
    ProtocolViolation,
    Response,
    ResponseHeaders,
    ServerDisconnected,
)

__all__ = [
    "HIGH_WATER",
    "Connection",
    "ErrorMap",
    "Http1Client",
    "InFlight",
    "Pool",
    "ProtocolViolation",
    "Response",
    "ResponseHeaders",
    "ServerDisconnected",
    "Target",
    "split_url",
]
IDLE_KEEP_S: Final = 30.0  # pooled connections idle longer than this are closed
PROBE_IDLE_S: Final = 1.0  # pooled connections idle this long are peeked at before reuse
_PEEK: Final = socket.MSG_PEEK | socket.MSG_DONTWAIT
MAX_IDLE_PER_HOST: Final = 256
_DETACHED: Final = httptools.HttpResponseParser(object())  # a closed connection's parser
_URL_CACHE_MAX: Final = 4096


@dataclass(frozen=True, slots=True)
class Target:
    """A URL split once: where to connect and what to put on the request line."""

    key: tuple[str, str, int]
    host: str
    port: int
    tls: bool
    path: bytes
    host_header: bytes


class InFlight:
    """One exchange's connection, for its total-deadline timer: `expire()` fails the exchange
    on its connection, or cancels the waiting task while it is still connecting."""

    __slots__ = ("conn", "expired", "task")

    def __init__(self, task: asyncio.Task[Any] | None) -> None:
        self.task = task
        self.conn: Connection | None = None
        self.expired = False

    def expire(self) -> None:
        self.expired = True
        if self.conn is not None:
            self.conn.fail(TimeoutError())
        elif self.task is not None:
            self.task.cancel()


class Connection(asyncio.Protocol):
    """One upstream connection; serves one request at a time."""

    def __init__(self, pool: Pool, loop: asyncio.AbstractEventLoop) -> None:
        self.pool = pool
        self.loop = loop
        self.transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._response: Response | None = None
        self._headers_waiter: asyncio.Future[None] | None = None
        self._received = False  # any byte of the current response
        self._headers_done = False
        self._close_delimited = False
        self._paused = False
        self.reusable = False
        self.closed = False
        self.idle_since = 0.0
        self.last_read = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._received = True
        self.last_read = self.loop.time()
        response = self._response
        if response is None:  # bytes while idle: the server is out of step
            self.abort()
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ProtocolViolation("upstream tried to switch protocols"))
        except httptools.HttpParserError as exc:
            self._fail(ProtocolViolation(f"invalid HTTP response from upstream: {exc}"))
        else:
            if response._chunks and not response._done:
                response._fed()

    def eof_received(self) -> bool | None:
        return None  # close the transport; connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        self._parser = _DETACHED  # it held our callbacks: a cycle only the collector frees
        self.pool.forget(self)
        response = self._response
        if response is None:
            return
        if self._headers_done and self._close_delimited and exc is None:
            response._finish()  # body delimited by the end of the connection
            self._response = None
            return
        self._fail(ServerDisconnected("upstream closed the connection"))

    # -- httptools callbacks ------------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        assert self._response is not None
        self._response.raw_headers.append((name, value))

    def on_headers_complete(self) -> None:
        response = self._response
        assert response is not None
        status = self._parser.get_status_code()
        if 100 <= status < 200:  # informational: the real response follows
            response.raw_headers.clear()
            return
        response.status = status
        self._headers_done = True
        framed = False
        for k, _ in response.raw_headers:
            lk = k.lower()
            if lk in (b"content-length", b"transfer-encoding"):
                framed = True
                break
        self._close_delimited = not framed and status not in (204, 304)
        waiter = self._headers_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_body(self, body: bytes) -> None:
        # One call per HTTP chunk (a streamed answer read at once holds dozens): only append;
        # `data_received` applies back-pressure and wakes the reader once per read.
        response = self._response
        if response is not None:
            response._chunks.append(body)
            response._buffered += len(body)

    def on_message_complete(self) -> None:
        response = self._response
        if response is None or not self._headers_done:
            return
        self.reusable = self._parser.should_keep_alive() and not self._close_delimited
        self._response = None
        response._finish()

    # -- the exchange -------------------------------------------------------------------------

    def start(self, head: bytes, body: bytes) -> Response:
        transport = self.transport
        assert transport is not None
        self.reusable = False
        self._received = False
        self._headers_done = False
        self._close_delimited = False
        self._parser = httptools.HttpResponseParser(self)
        response = self._response = Response(self, self.pool.error_map)
        self._headers_waiter = self.loop.create_future()
        self.last_read = self.loop.time()
        if body:
            transport.writelines((head, body))
        else:
            transport.write(head)
        return response

    async def headers(self) -> None:
        waiter = self._headers_waiter
        assert waiter is not None
        await waiter

    @property
    def received(self) -> bool:
        return self._received

    def _fail(self, exc: BaseException) -> None:
        response = self._response
        self._response = None
        waiter = self._headers_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)
        if response is not None:
            response._finish(exc)
        self.abort()

    def fail(self, exc: BaseException) -> None:
        """Abandon the exchange with `exc` (timeouts)."""
        self._fail(exc)

    def pause(self) -> None:
        if not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()

    def resume(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    @property
    def host(self) -> str:
        return self.pool.target.host

    @property
    def port(self) -> int:
        return self.pool.target.port

    def release(self) -> None:
        """The exchange ended: back to the pool when it ended cleanly, closed otherwise."""
        self.pool.release(self)

    def peer_gone(self) -> bool:
        """Whether the peer closed this idle connection (or wrote on it, out of step), as the
        socket says now, before the event loop noticed: one non-blocking peek."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return True
        sock = transport.get_extra_info("socket")
        if sock is None:
            return False
        fd = sock.fileno()
        if fd < 0:
            return True
        probe = socket.socket(sock.family, sock.type, sock.proto, fileno=fd)
        try:
            probe.recv(1, _PEEK)  # b"" (end of stream) or a byte: either way not reusable
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True
        finally:
            probe.detach()
        return True

    def abort(self) -> None:
        self.reusable = False
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.abort()


class Pool:
    """Idle keep-alive connections to one (scheme, host, port)."""

    def __init__(
        self,
        target: Target,
        ssl_context: ssl.SSLContext | None,
        error_map: ErrorMap | None = None,
    ) -> None:
        self.target = target
        self._ssl = ssl_context
        self.error_map = error_map
        self._idle: deque[Connection] = deque()
        self.stale = 0  # idle connections found closed by the peer before reuse

    def take_idle(self, now: float) -> Connection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()  # most recently used first: warmest, least likely stale
            if not conn.closed:
                idle_for = now - conn.idle_since
                if idle_for < PROBE_IDLE_S or (idle_for < IDLE_KEEP_S and not conn.peer_gone()):
                    return conn
                if idle_for < IDLE_KEEP_S:
                    self.stale += 1
            conn.abort()
        return None

    async def connect(
        self, loop: asyncio.AbstractEventLoop, connect_timeout: float | None
    ) -> Connection:
        t = self.target
        factory = lambda: Connection(self, loop)  # noqa: E731
        kw: dict[str, Any] = {}
        if t.tls:
            kw = {"ssl": self._ssl, "server_hostname": t.host}
        if connect_timeout:
            async with asyncio.timeout(connect_timeout):
                _, conn = await loop.create_connection(factory, t.host, t.port, **kw)
        else:
            _, conn = await loop.create_connection(factory, t.host, t.port, **kw)
        return conn

    def release(self, conn: Connection) -> None:
        """Back to the pool when its exchange ended cleanly; closed otherwise."""
        if conn.reusable and not conn.closed and len(self._idle) < MAX_IDLE_PER_HOST:
            conn.idle_since = conn.loop.time()
            self._idle.append(conn)
        else:
            conn.abort()

    def forget(self, conn: Connection) -> None:
        if self._idle and conn in self._idle:
            self._idle.remove(conn)

    def close(self) -> None:
        while self._idle:
            self._idle.pop().abort()


def split_url(url: str) -> Target:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported upstream URL scheme or host: {scheme}://…")
    tls = scheme == "https"
    default = 443 if tls else 80
    port = parts.port or default
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default else f"{shown}:{port}"
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return Target((scheme, host, port), host, port, tls, path.encode(), host_header.encode())


class Http1Client:
    """The pools of one worker process."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop | None = None,
        ssl_context: ssl.SSLContext | None = None,
        error_map: ErrorMap | None = None,
    ) -> None:
        self._loop = loop
        self._error_map = error_map
        self._pools: dict[tuple[str, str, int], Pool] = {}
        self._targets: dict[str, Target] = {}
        self._ssl = ssl_context  # default: the system trust store, made on first https use
        self.closed = False

    def _target(self, url: str) -> Target:
        target = self._targets.get(url)
        if target is None:
            if len(self._targets) >= _URL_CACHE_MAX:
                self._targets.clear()
            target = self._targets[url] = split_url(url)
        return target

    def _pool(self, target: Target) -> Pool:
        pool = self._pools.get(target.key)
        if pool is None:
            if target.tls and self._ssl is None:
                self._ssl = ssl.create_default_context()
            ctx = self._ssl if target.tls else None
            pool = self._pools[target.key] = Pool(target, ctx, self._error_map)
        return pool

    async def request(
        self,
        method: bytes,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        connect_timeout: float | None = None,
        flight: InFlight | None = None,
    ) -> tuple[Response, Pool, Connection]:
        """Send the request and wait for the response head. The caller must end the exchange
        with `response.release()` (the connection back to its pool, or closed)."""
        if self.closed:
            raise ConnectionError("the upstream client is closed")
        loop = self._loop or asyncio.get_running_loop()
        target = self._target(url)
        pool = self._pool(target)
        head = _head(method, target, headers, len(body))
        conn = pool.take_idle(loop.time())
        if conn is None:
            conn = await pool.connect(loop, connect_timeout)
        if flight is not None:
            flight.conn = conn
            if flight.expired:
                conn.abort()
                raise TimeoutError
        response = conn.start(head, body)
        try:
            await conn.headers()
        except BaseException:
            conn.abort()  # written: whatever happened is the caller's to retry, or not
            raise
        return response, pool, conn

    @property
    def stale(self) -> int:
        """Pooled connections dropped unused because the peer had closed them."""
        return sum(pool.stale for pool in self._pools.values())

    def close(self) -> None:
        self.closed = True
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def _head(method: bytes, target: Target, headers: Sequence[tuple[str, str]], length: int) -> bytes:
    lines = []
    host = None
    for k, v in headers:
        if k == "host" or k.lower() == "host":
            host = v
            continue
        lines.append(f"{k}: {v}\r\n")
    block = "".join(lines)
    # One CR and one LF per line, or a name/value smuggled a line break in (header injection).
    if block.count("\n") != len(lines) or block.count("\r") != len(lines):
        raise ValueError("a header name or value contains a line break")
    host_line = target.host_header if host is None else host.encode("latin-1")
    if b"\r" in host_line or b"\n" in host_line:
        raise ValueError("the Host header contains a line break")
    return b"%s %s HTTP/1.1\r\nhost: %s\r\n%scontent-length: %d\r\n\r\n" % (
        method,
        target.path,
        host_line,
        block.encode("latin-1"),
        length,
    )
