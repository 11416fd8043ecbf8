"""A lean HTTP/1.1 connection for exactly the ASGI subset the gateway uses.

One `HttpConnection` (an `asyncio.Protocol`) per client connection parses requests with httptools;
each request becomes a `Cycle` whose ASGI app call runs in its own task (a fresh contextvars
context per request). Pipelined requests queue behind the running one: one cycle per connection
at a time, answered strictly in order. Response framing is ours: the app's `content-length` is
kept, otherwise chunked (HTTP/1.1) or close-delimited (HTTP/1.0). No `date`/`server` headers.
Not supported on purpose: TLS, HTTP/2, websockets/upgrades, trailers, ASGI extensions.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, cast
from urllib.parse import unquote

import httptools

from plano.http.cycle import Cycle, error_response

log = logging.getLogger("plano")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

MAX_URL_BYTES: Final = 8 * 1024
MAX_HEADERS: Final = 100
MAX_HEAD_BYTES: Final = 64 * 1024  # header fields; or raw bytes of a head still incomplete
LINGER_SECONDS: Final = 2.0  # closing with input unread: read and drop it this long first
READ_HIGH_WATER: Final = 64 * 1024  # unconsumed request body that pauses reading
MAX_PIPELINED: Final = 8  # queued requests that pause reading

ASGI_VERSION: Final = {"version": "3.0", "spec_version": "2.3"}
_METHODS: Final = {m.encode(): m for m in ("GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE")}
_UPGRADE_BODY_HEADERS: Final = (b"content-length", b"transfer-encoding")


class Shared:
    """What every connection of one server shares."""

    __slots__ = (
        "all_done",
        "app",
        "connections",
        "draining",
        "keep_alive_timeout",
        "loop",
        "tasks",
    )

    def __init__(
        self, app: ASGIApp, loop: asyncio.AbstractEventLoop, keep_alive_timeout: float
    ) -> None:
        self.app = app
        self.loop = loop
        self.keep_alive_timeout = keep_alive_timeout
        self.connections: set[HttpConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()  # app calls, also of connections now gone
        self.draining = False
        self.all_done = asyncio.Event()  # draining, and no connection nor app call is left

    def check_done(self) -> None:
        if self.draining and not self.connections and not self.tasks:
            self.all_done.set()


class _Reject(Exception):
    """Raised in a parser callback: answer with `status` and close."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _address(info: Any) -> tuple[str, int] | None:
    if isinstance(info, tuple) and len(info) >= 2:
        return (str(info[0]), int(info[1]))
    return None


def _split_absolute(url: bytes) -> tuple[bytes, bytes]:
    try:  # absolute-form (`http://host/p?q`) or `*`
        parsed = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        return url, b""
    return parsed.path or b"/", parsed.query or b""


def _decode_path(raw_path: bytes) -> str:
    """Percent-escapes and UTF-8 decoded, as ASGI wants `path` (the rare, slow case)."""
    return unquote(raw_path.decode("utf-8", "replace"))


class HttpConnection(asyncio.Protocol):
    """One client connection: parse, queue, run one cycle at a time, keep alive or close."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.loop = shared.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self.server_addr: tuple[str, int] | None = None
        self.client_addr: tuple[str, int] | None = None
        self.closed = False  # closed by us or by the peer: nothing more is written
        self.stopped = False  # input is no longer parsed (bad request, upgrade)
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_100 = False
        self.in_head = False
        self.message_no = 0
        self.head_bytes = 0  # bytes of reads that did not complete the head
        self.head_size = 0  # bytes of this head's URL and header fields
        self.parsing: Cycle | None = None  # the cycle whose request body is being received
        self.active: Cycle | None = None  # the cycle whose app is running
        self.task: asyncio.Task[None] | None = None
        self.queue: deque[Cycle] = deque()
        self.final: bytes | None = None  # written, then close, once the queue is empty
        self.read_paused = False
        self.write_paused = False
        self.drain: asyncio.Future[None] | None = None
        self.idle_since = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None

    # -- transport callbacks ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport's interface without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.server_addr = _address(transport.get_extra_info("sockname"))
        self.client_addr = _address(transport.get_extra_info("peername"))
        self.shared.connections.add(self)
        if self.shared.draining:
            self.close()
            return
        self.idle_since = self.loop.time()
        self.idle_timer = self.loop.call_later(self.shared.keep_alive_timeout, self._idle_check)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        shared = self.shared
        shared.connections.discard(self)
        shared.check_done()
        for cycle in (self.active, self.parsing):
            if cycle is not None:
                cycle.disconnect()
        self.queue.clear()
        drain = self.drain
        if drain is not None and not drain.done():
            drain.set_result(None)
        if self.idle_timer is not None:
            self.idle_timer.cancel()
            self.idle_timer = None

    def data_received(self, data: bytes) -> None:
        if self.stopped:
            return
        continuing, message_no = self.in_head, self.message_no
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.stopped = True  # what follows the head is not HTTP/1.1 (or a body we skip)
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if not isinstance(cause, _Reject):
                log.error("HTTP parser callback failed", exc_info=cause)
            self.reject(cause.status if isinstance(cause, _Reject) else 400)
        except httptools.HttpParserError:
            self.reject(400)
        else:
            if self.in_head:  # a head is still incomplete: bound what it may accumulate
                same = continuing and message_no == self.message_no
                self.head_bytes = self.head_bytes + len(data) if same else 0
                if self.head_bytes > MAX_HEAD_BYTES:
                    self.reject(431)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        drain = self.drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    # -- httptools callbacks ---------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.in_head = True
        self.message_no += 1
        self.url = b""
        self.headers = []
        self.expect_100 = False
        self.head_size = 0

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_URL_BYTES:
            raise _Reject(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        headers = self.headers
        headers.append((name, value))
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100 = True
        self.head_size += len(name) + len(value)
        if len(headers) > MAX_HEADERS or self.head_size > MAX_HEAD_BYTES:
            raise _Reject(431)

    def on_headers_complete(self) -> None:
        self.in_head = False
        if self.closed:
            return  # pipelined after a request that closed the connection
        parser = self.parser
        upgrade = parser.should_upgrade()
        if upgrade and any(n in _UPGRADE_BODY_HEADERS and v != b"0" for n, v in self.headers):
            raise _Reject(501)  # we would not see the body: llhttp hands it over as upgrade data
        method_b = parser.get_method()
        version = parser.get_http_version()
        url = self.url
        if url[:1] == b"/":
            raw_path, _, query = url.partition(b"?")
        else:
            raw_path, query = _split_absolute(url)
        path = raw_path.decode("latin-1")
        if not (path.isascii() and "%" not in path):
            path = _decode_path(raw_path)
        scope = {
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": version,
            "method": _METHODS.get(method_b) or method_b.decode("ascii"),
            "scheme": "http",
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
            "root_path": "",
            "headers": self.headers,
            "server": self.server_addr,
            "client": self.client_addr,
        }
        keep_alive = parser.should_keep_alive() and not upgrade
        cycle = Cycle(self, scope, keep_alive, version == "1.0", method_b == b"HEAD")
        cycle.expect_100 = self.expect_100 and version != "1.0"
        self.parsing = cycle
        if self.active is None:
            self.begin(cycle)
        else:
            self.queue.append(cycle)
            if len(self.queue) >= MAX_PIPELINED:
                self.flow()

    def on_body(self, body: bytes) -> None:
        cycle = self.parsing
        if cycle is not None:
            cycle.feed(body)
            if cycle.buffered > READ_HIGH_WATER and not self.read_paused:
                self.flow()

    def on_message_complete(self) -> None:
        cycle = self.parsing
        if cycle is not None:
            self.parsing = None
            cycle.end_of_body()
        self.in_head = True
        self.head_bytes = 0

    # -- cycles ----------------------------------------------------------------------------
    def begin(self, cycle: Cycle) -> None:
        self.active = cycle
        self.task = task = self.loop.create_task(self.run(cycle))
        self.shared.tasks.add(task)

    async def run(self, cycle: Cycle) -> None:
        try:
            await self.shared.app(cycle.scope, cycle.receive, cycle.send)
        except asyncio.CancelledError:
            self.close()
            raise
        except Exception:
            scope = cycle.scope
            log.exception("the ASGI app failed on %s %s", scope["method"], scope["path"])
            self.fail(cycle)
        else:
            if not cycle.complete:
                if not cycle.started:
                    log.error("the ASGI app returned without a response")
                self.fail(cycle)
        finally:
            self.done(cycle)
            self.shared.check_done()

    def fail(self, cycle: Cycle) -> None:
        """Before the response started: 500 and close; after: close (truncating it)."""
        if not self.closed and not cycle.started:
            self.transport.write(error_response(500))
        self.close(linger=not cycle.body_done)

    def done(self, cycle: Cycle) -> None:
        self.active = None
        if self.task is not None:
            self.shared.tasks.discard(self.task)
            self.task = None
        if self.closed:
            return
        if not (cycle.complete and cycle.keep_alive) or self.shared.draining:
            self.close()
        elif self.queue:
            self.begin(self.queue.popleft())
            if self.read_paused:
                self.flow()
        elif self.final is not None:
            self.transport.write(self.final)
            self.close(linger=True)
        else:
            self.idle_since = self.loop.time()
            if self.idle_timer is None:
                self.idle_timer = self.loop.call_later(
                    self.shared.keep_alive_timeout, self._idle_check
                )

    def reject(self, status: int) -> None:
        """Bad input: stop parsing; answer `status` after the cycles ahead of it, then close."""
        self.stopped = True  # from now on, input is read and dropped
        cycle = self.parsing
        if cycle is not None:  # broken mid-body: that request's app sees a disconnect
            self.parsing = None
            cycle.keep_alive = False
            cycle.disconnect()
            if self.active is None:  # its response is out already: nothing left to answer
                self.close(linger=True)
        elif self.active is None:
            if not self.closed:
                self.transport.write(error_response(status))
            self.close(linger=True)
        else:
            self.final = error_response(status)

    # -- flow control, closing -------------------------------------------------------------
    def flow(self) -> None:
        """Pause reading while the parsed-ahead input is too large; resume once consumed."""
        cycle = self.parsing
        pause = (cycle is not None and cycle.buffered > READ_HIGH_WATER) or len(
            self.queue
        ) >= MAX_PIPELINED
        if pause != self.read_paused and not self.closed:
            self.read_paused = pause
            if pause:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    async def writable(self) -> None:
        drain = self.drain
        if drain is None or drain.done():
            drain = self.drain = self.loop.create_future()
        await drain

    def _idle_check(self) -> None:
        self.idle_timer = None
        if self.closed or self.active is not None:
            return  # `done` re-arms the timer when the connection next becomes idle
        left = self.idle_since + self.shared.keep_alive_timeout - self.loop.time()
        if left <= 0:
            self.close()
        else:
            self.idle_timer = self.loop.call_later(left, self._idle_check)

    def shutdown(self) -> None:
        """Server drain: close now if idle, else after the response in flight. A connection
        that has not begun a request yet was accepted just before the drain: its request is
        likely on its way, so it is served (and the connection closed after it)."""
        if self.active is None and self.message_no > 0:
            self.close()

    def close(self, linger: bool = False) -> None:
        """Close once written out. With `linger` (input may be unread), send FIN first and drop
        what still arrives for a while: closing on unread data would reset the connection and
        could destroy the response before the client reads it."""
        if self.closed:
            return
        self.closed = True
        transport = self.transport
        if linger and transport.can_write_eof():
            self.stopped = True
            if self.read_paused:
                self.read_paused = False
                transport.resume_reading()
            transport.write_eof()
            self.loop.call_later(LINGER_SECONDS, transport.close)
        else:
            transport.close()

    def abort(self) -> None:
        self.closed = True
        self.transport.abort()
