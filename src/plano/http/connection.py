"""A lean HTTP/1.1 connection for exactly the ASGI subset the gateway uses.

One `HttpConnection` (an `asyncio.Protocol`) per client connection parses requests with httptools;
each request becomes a `Cycle` whose ASGI app call runs in its own task (a fresh contextvars context
per request). Pipelined requests queue behind the running one, answered strictly in order. Response
framing is ours: the app's `content-length` is kept, else chunked (HTTP/1.1) or close-delimited
(HTTP/1.0). No `date`/`server` headers. TLS is the event loop's (`server.py`). Not supported on
purpose: HTTP/2, websockets/upgrades, trailers, ASGI extensions.

Timeouts (one timer handle per connection; the hot path only stores deadlines): a request head
within `header_timeout` of the accept or of its first byte (else 408 and close), each piece of a
body within `body_timeout` (else the app sees `http.disconnect`; 408 if it then returns without a
response), an idle kept-alive connection closed after `keep_alive_timeout`. Beyond
`max_connections`, a new connection is answered 503 and closed. What the HTTP layer answers by
itself (400, 501, ...) closes the connection and carries a JSON error (`cycle.error_response`).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final, cast

import httptools

from plano.http.cycle import Cycle, error_response
from plano.http.request_head import Reject, address, chunked_only, decode_path, split_absolute

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
REFUSED_LINGER_SECONDS: Final = 0.5  # a refused connection: drop its request this long, then close
DRAIN_IDLE_GRACE_SECONDS: Final = 0.5  # draining: a just-idle connection's next request is served
_DETACHED: Final = httptools.HttpRequestParser(object())  # a closed connection's parser


class Counters:
    """What the HTTP layer refused or timed out, per server (plain ints, read by the caller)."""

    __slots__ = ("bad_requests", "body_timeouts", "header_timeouts", "idle_closed", "refused")

    def __init__(self) -> None:
        self.refused = 0  # connections beyond `max_connections`: answered 503, closed
        self.header_timeouts = 0  # heads not complete within `header_timeout`: 408
        self.body_timeouts = 0  # bodies stalled longer than `body_timeout`
        self.idle_closed = 0  # kept-alive connections closed after `keep_alive_timeout`
        self.bad_requests = 0  # malformed or unsupported requests answered 4xx/501 and closed

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class Shared:
    """What every connection of one server shares."""

    __slots__ = (
        "all_done",
        "app",
        "body_timeout",
        "connections",
        "counters",
        "draining",
        "header_timeout",
        "keep_alive_timeout",
        "loop",
        "max_connections",
        "refused",
        "tasks",
        "tick",
    )

    def __init__(
        self,
        app: ASGIApp,
        loop: asyncio.AbstractEventLoop,
        keep_alive_timeout: float,
        *,
        header_timeout: float = 10.0,
        body_timeout: float = 30.0,
        max_connections: int | None = None,
        counters: Counters | None = None,
    ) -> None:
        self.app = app
        self.loop = loop
        self.keep_alive_timeout = keep_alive_timeout
        self.header_timeout = header_timeout
        self.body_timeout = body_timeout
        # A connection's timer fires at least this often: no deadline is ever shorter, so a
        # deadline set between two firings is never missed.
        self.tick = min(keep_alive_timeout, header_timeout, body_timeout)
        self.max_connections = max_connections
        self.counters = counters if counters is not None else Counters()
        self.connections: set[HttpConnection] = set()  # admitted, open
        self.refused: set[HttpConnection] = set()  # beyond the limit: answered 503, closing
        self.tasks: set[asyncio.Task[None]] = set()  # app calls, also of connections now gone
        self.draining = False
        self.all_done = asyncio.Event()  # draining, and no connection nor app call is left

    def check_done(self) -> None:
        if self.draining and not self.connections and not self.tasks:
            self.all_done.set()


class HttpConnection(asyncio.Protocol):
    """One client connection: parse, queue, run one cycle at a time, keep alive or close."""

    def __init__(self, shared: Shared) -> None:
        self.shared = shared
        self.loop = shared.loop
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport = cast(asyncio.Transport, None)
        self.server_addr: tuple[str, int] | None = None
        self.scheme = "http"
        self.client_addr: tuple[str, int] | None = None
        self.closed = False  # closed by us or by the peer: nothing more is written
        self.stopped = False  # input is no longer parsed (bad request, upgrade)
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.expect_100 = False
        self.te: list[bytes] | None = None  # this head's Transfer-Encoding values
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
        self.head_begun = False  # a head is due: since the accept, or its first byte arrived
        self.head_deadline = 0.0
        self.body_deadline = 0.0
        self.timer: asyncio.TimerHandle | None = None

    # -- transport callbacks ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport's interface without subclassing it.
        self.transport = cast(asyncio.Transport, transport)
        self.server_addr = address(transport.get_extra_info("sockname"))
        if transport.get_extra_info("sslcontext") is not None:
            self.scheme = "https"
        self.client_addr = address(transport.get_extra_info("peername"))
        shared = self.shared
        limit = shared.max_connections
        if limit is not None and len(shared.connections) >= limit and not shared.draining:
            self.refuse()
            return
        shared.connections.add(self)
        if shared.draining:
            self.close()
            return
        now = self.idle_since = self.loop.time()
        self.head_begun = True
        self.head_deadline = now + shared.header_timeout
        self.timer = self.loop.call_at(now + shared.tick, self._on_timer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.parser = _DETACHED  # its own held our callbacks: a cycle only the collector frees
        shared = self.shared
        shared.connections.discard(self)
        shared.refused.discard(self)
        shared.check_done()
        for cycle in (self.active, self.parsing):
            if cycle is not None:
                cycle.disconnect()
        self.queue.clear()
        drain = self.drain
        if drain is not None and not drain.done():
            drain.set_result(None)
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

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
            if not isinstance(cause, Reject):
                log.error("HTTP parser callback failed", exc_info=cause)
            self.shared.counters.bad_requests += 1
            self.reject(cause.status if isinstance(cause, Reject) else 400)
        except httptools.HttpParserError:
            self.shared.counters.bad_requests += 1
            self.reject(400)
        else:
            if self.in_head:  # a head is still incomplete: bound what it may accumulate
                same = continuing and message_no == self.message_no
                self.head_bytes = self.head_bytes + len(data) if same else 0
                if self.head_bytes > MAX_HEAD_BYTES:
                    self.shared.counters.bad_requests += 1
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
        self.te = None
        self.head_size = 0
        self.head_begun = True
        if self.message_no > 1:  # the first head's time counts from the accept
            self.head_deadline = self.loop.time() + self.shared.header_timeout

    def on_url(self, url: bytes) -> None:
        self.url += url
        if len(self.url) > MAX_URL_BYTES:
            raise Reject(414)

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        headers = self.headers
        headers.append((name, value))
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100 = True
        elif name == b"transfer-encoding":
            if self.te is None:
                self.te = [value]
            else:
                self.te.append(value)
        self.head_size += len(name) + len(value)
        if len(headers) > MAX_HEADERS or self.head_size > MAX_HEAD_BYTES:
            raise Reject(431)

    def on_headers_complete(self) -> None:
        self.in_head = False
        self.head_begun = False
        if self.closed:
            return  # pipelined after a request that closed the connection
        if self.te is not None and not chunked_only(self.te):
            raise Reject(501)  # a coding we would have to undo (gzip, ...) or do not know
        self.body_deadline = self.loop.time() + self.shared.body_timeout
        parser = self.parser
        upgrade = parser.should_upgrade()
        if upgrade and any(n in _UPGRADE_BODY_HEADERS and v != b"0" for n, v in self.headers):
            raise Reject(501)  # we would not see the body: llhttp hands it over as upgrade data
        method_b = parser.get_method()
        version = parser.get_http_version()
        url = self.url
        if url[:1] == b"/":
            raw_path, _, query = url.partition(b"?")
        else:
            raw_path, query = split_absolute(url)
        path = raw_path.decode("latin-1")
        if not (path.isascii() and "%" not in path):
            path = decode_path(raw_path)
        scope = {
            "type": "http",
            "asgi": ASGI_VERSION,
            "http_version": version,
            "method": _METHODS.get(method_b) or method_b.decode("ascii"),
            "scheme": self.scheme,
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
            self.body_deadline = self.loop.time() + self.shared.body_timeout
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
            if cycle.abort_status is None:
                log.exception("the ASGI app failed on %s %s", scope["method"], scope["path"])
            else:  # the request broke under it (bad framing, a body timeout)
                log.debug("the ASGI app failed on a broken request", exc_info=True)
            self.fail(cycle)
        else:
            if not cycle.complete:
                if not cycle.started and cycle.abort_status is None:
                    log.error("the ASGI app returned without a response")
                self.fail(cycle)
        finally:
            self.done(cycle)
            self.shared.check_done()

    def fail(self, cycle: Cycle) -> None:
        """Unstarted response: 500 (or the broken request's status) and close; else close (cut)."""
        if not self.closed and not cycle.started:
            self.transport.write(error_response(cycle.abort_status or 500))
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
            self.idle_since = self.loop.time()  # the timer closes it once idle too long

    def reject(self, status: int) -> None:
        """Bad input: stop parsing; answer `status` after the cycles ahead of it, then close."""
        self.stopped = True  # from now on, input is read and dropped
        cycle = self.parsing
        if cycle is not None:  # broken mid-body: that request's app sees a disconnect
            self.parsing = None
            cycle.keep_alive = False
            cycle.abort_status = status
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
                self.body_deadline = self.loop.time() + self.shared.body_timeout

    async def writable(self) -> None:
        drain = self.drain
        if drain is None or drain.done():
            drain = self.drain = self.loop.create_future()
        await drain

    def _on_timer(self) -> None:
        """The connection's one timer: expire what the client owes, else fire again at the
        nearest deadline, or after `tick` at the latest (deadlines move without re-arming)."""
        self.timer = None
        if self.closed:
            return
        shared = self.shared
        now = self.loop.time()
        deadline: float | None = None
        if self.stopped:
            pass  # input is dropped; the response in flight ends the connection
        elif self.parsing is not None:  # a request body is arriving
            if self.read_paused:  # our flow control, not the client, holds it back
                self.body_deadline = now + shared.body_timeout
            elif now >= self.body_deadline:
                shared.counters.body_timeouts += 1
                self.reject(408)
                return
            deadline = self.body_deadline
        elif self.head_begun:
            if self.read_paused:  # too many pipelined requests queued: ours to consume first
                self.head_deadline = now + shared.header_timeout
            elif now >= self.head_deadline:
                shared.counters.header_timeouts += 1
                self.reject(408)
                return
            deadline = self.head_deadline
        elif self.active is None and not self.queue:
            deadline = self.idle_since + shared.keep_alive_timeout
            if now >= deadline:
                shared.counters.idle_closed += 1
                self.close()
                return
        at = now + shared.tick
        if deadline is not None and deadline < at:
            at = deadline
        self.timer = self.loop.call_at(at, self._on_timer)

    def refuse(self) -> None:
        """Beyond the connection limit: 503 and close, dropping what the client sends meanwhile
        (closing on unread input would reset the connection and could destroy the answer)."""
        shared = self.shared
        shared.refused.add(self)
        shared.counters.refused += 1
        self.stopped = True
        self.transport.write(error_response(503))
        self.close(linger=True, linger_seconds=REFUSED_LINGER_SECONDS)

    def shutdown(self) -> None:
        """Server drain: close once idle (after `DRAIN_IDLE_GRACE_SECONDS` if it just went
        idle), else after the response in flight. A connection with no request yet was
        accepted just before the drain: its request is on its way, so it is served."""
        if self.active is None and self.message_no > 0:
            idle_for = self.loop.time() - self.idle_since
            if idle_for >= DRAIN_IDLE_GRACE_SECONDS:
                self.close()
            else:
                self.loop.call_later(DRAIN_IDLE_GRACE_SECONDS - idle_for, self._close_if_idle)

    def _close_if_idle(self) -> None:  # the drain's grace is over (a request closes after it)
        if not self.closed and self.active is None and self.parsing is None and not self.queue:
            self.close()

    def close(self, linger: bool = False, linger_seconds: float = LINGER_SECONDS) -> None:
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
            self.loop.call_later(linger_seconds, transport.close)
        else:
            transport.close()

    def abort(self) -> None:
        self.closed = True
        self.transport.abort()
