"""The mock's HTTP/1.1 server: a raw ``asyncio.Protocol`` over ``httptools``, and :class:`MockLLM`.

Keep-alive and pipelining: requests on a connection are answered strictly in order. A reply
without delays or faults is written synchronously from the parser callback (one write, no task);
a reply with delays or faults is played by one task per connection, and requests that arrive
meanwhile wait in a bounded queue (reading pauses when it is full or when the client stops reading
responses). Request bodies may be sent with Content-Length or chunked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any, Final, cast

import httptools

from plano.mock.app import MockApp, MockOptions
from plano.mock.control import error_reply
from plano.mock.dialect import Dialect
from plano.mock.faults import CLOSE, Step, Write, plan
from plano.mock.request import MockRequest
from plano.mock.response import Reply, encode
from plano.mock.script import ReplySpec

MAX_PIPELINED: Final = 64
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_BAD_REQUEST: Final = encode(error_reply(400, "malformed HTTP request"), keep_alive=False)
_METHODS: Final = {m.encode(): m for m in ("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD")}


def _text(value: bytes) -> str:
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")


class _Connection(asyncio.Protocol):
    """One client connection: parse requests, answer them in order."""

    def __init__(self, app: MockApp, connections: set[_Connection]) -> None:
        self._app = app
        self._connections = connections
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpRequestParser(self)
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._body_len = 0
        self._pending: deque[tuple[MockRequest | Reply, bool]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._write_paused = False
        self._read_paused = False
        self._drained: asyncio.Future[None] | None = None
        self._serial = 0
        self._last_request_seen = False  # EOF or an upgrade: close once the replies are sent

    # --- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self._connections.add(self)
        self._serial = self._app.connection_opened()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The request was answered as plain HTTP/1.1; what follows is another protocol.
            self._last_request_seen = True
            if self._task is None:
                self.close()
        except httptools.HttpParserError:
            self._fail()

    def eof_received(self) -> bool:
        """The client half-closed: finish the replies it is owed, then close."""
        self._last_request_seen = True
        return self._task is not None  # True keeps the transport open for writing

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._connections.discard(self)
        if self._task is not None:
            self._task.cancel()
        self._wake_writer()

    def pause_writing(self) -> None:
        self._write_paused = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()
        self._update_reading()

    # --- httptools callbacks ------------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._body_len = 0

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = _text(value)
        old = self._headers.get(key)
        self._headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        expect = self._headers.get("expect")
        idle = self._task is None and not self._pending  # else it would cut into a reply
        if expect and expect.lower() == "100-continue" and idle and self._transport:
            self._transport.write(_CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_len += len(body)
        if self._body_len <= self._app.options.max_body_bytes:
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self._closed:
            return
        keep_alive = self._parser.should_keep_alive()
        req: MockRequest | Reply
        if self._body_len > self._app.options.max_body_bytes:
            req, keep_alive = error_reply(413, "request body too large"), False
        else:
            method = self._parser.get_method()
            req = MockRequest.parse(
                _METHODS.get(method) or method.decode("latin-1"),
                self._url,
                self._headers,
                self._body[0] if len(self._body) == 1 else b"".join(self._body),
                self._serial,
            )
        if self._task is not None or self._pending:
            self._pending.append((req, keep_alive))
            self._update_reading()
        else:
            self._respond(req, keep_alive)

    # --- answering ----------------------------------------------------------------------------

    def _respond(self, req: MockRequest | Reply, keep_alive: bool) -> None:
        if isinstance(req, Reply):
            self._send(req, keep_alive)
            return
        try:
            reply, spec = self._app.handle(req)
        except Exception as exc:  # a bug in the mock: answer 500 rather than drop the connection
            reply, spec = error_reply(500, f"mock-llm internal error: {exc!r}"), None
        if spec is None:
            self._send(reply, keep_alive)
        else:
            steps = plan(reply, spec, keep_alive=keep_alive)
            self._task = self._loop.create_task(self._play(steps, keep_alive))

    def _send(self, reply: Reply, keep_alive: bool) -> None:
        assert self._transport is not None
        self._transport.write(encode(reply, keep_alive=keep_alive))
        if not keep_alive:
            self.close()

    async def _play(self, steps: list[Step], keep_alive: bool) -> None:
        try:
            await self._write_steps(steps)
        except Exception:  # the connection broke under us: nothing left to answer
            self.close()
            return
        self._task = None
        if not keep_alive:
            self.close()
            return
        while self._pending and self._task is None and not self._closed:
            req, keep = self._pending.popleft()
            self._respond(req, keep)
        if self._task is None and self._last_request_seen:
            self.close()
        self._update_reading()

    async def _write_steps(self, steps: list[Step]) -> None:
        transport = self._transport
        assert transport is not None
        for step in steps:
            if not isinstance(step, Write):
                if step is CLOSE:
                    self.close()
                    return
                await self._loop.create_future()  # HANG: until the connection closes or stop()
                continue
            if step.delay is not None:
                await asyncio.sleep(step.delay)
            if self._closed:
                return
            if step.data:
                transport.write(step.data)
            if self._write_paused:
                await self._wait_writable()

    async def _wait_writable(self) -> None:
        while self._write_paused and not self._closed:
            self._drained = self._loop.create_future()
            await self._drained

    def _wake_writer(self) -> None:
        waiter, self._drained = self._drained, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or self._closed:
            return
        pause = self._write_paused or len(self._pending) >= MAX_PIPELINED
        if pause != self._read_paused:
            self._read_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def _fail(self) -> None:
        if self._transport is not None and not self._closed and self._task is None:
            self._transport.write(_BAD_REQUEST)
        self.close()

    def close(self) -> None:
        """Close the connection (buffered bytes are still sent) and stop what it was playing."""
        if not self._closed:
            self._closed = True
            self._pending.clear()
            if self._transport is not None:
                self._transport.close()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    @property
    def task(self) -> asyncio.Task[None] | None:
        return self._task


class MockLLM:
    """A fake OpenAI-compatible upstream (see ``plano.mock`` for the HTTP surface)."""

    def __init__(
        self,
        *,
        default_text: str | None = None,
        chunks: int = 5,
        chunk_delay_ms: float = 0.0,
        first_byte_delay_ms: float = 0.0,
        models: Iterable[str] = (),
        max_recorded: int = 1000,
        max_body_bytes: int = 64 * 1024 * 1024,
        script: Iterable[ReplySpec | Mapping[str, Any]] = (),
        dialects: Iterable[Dialect] = (),
    ) -> None:
        options = MockOptions(
            default_text=default_text,
            chunks=chunks,
            chunk_delay_ms=chunk_delay_ms,
            first_byte_delay_ms=first_byte_delay_ms,
            models=tuple(models),
            max_recorded=max_recorded,
            max_body_bytes=max_body_bytes,
        )
        self.app = MockApp(options, dialects)
        self.app.script(script)
        self.host = "127.0.0.1"
        self.port = 0
        self._server: asyncio.Server | None = None
        self._connections: set[_Connection] = set()
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT`` (append ``/v1`` for an OpenAI client's ``base_url``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, reuse_port: bool = False
    ) -> int:
        """Listen on ``host:port`` (0 = any free port); return the bound port."""
        if self._server is not None:
            raise RuntimeError("MockLLM already started")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self.app, self._connections),
            host,
            port,
            backlog=1024,
            reuse_port=reuse_port or None,
        )
        self.host = host
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        """Stop listening, close every connection (hung ones too), wait for their tasks."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        conns = list(self._connections)
        tasks = [c.task for c in conns if c.task is not None]
        for conn in conns:
            conn.close()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)
        # Let connection_lost run for the transports just closed.
        await asyncio.sleep(0)

    async def __aenter__(self) -> MockLLM:
        if self._server is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def script(self, *specs: ReplySpec | Mapping[str, Any]) -> None:
        """Queue reply specs (objects or JSON-shaped mappings), first in first out."""
        self.app.script(specs)

    @property
    def requests(self) -> list[MockRequest]:
        """The recorded requests (not ``/_mock/*`` nor ``/healthz``), oldest first."""
        return list(self.app.recorded)

    def clear(self) -> None:
        """Forget scripted specs and recorded requests."""
        self.app.clear()

    async def wait_for_requests(self, count: int = 1) -> list[MockRequest]:
        """Wait until ``count`` requests were recorded (since start or the last clear)."""
        loop = asyncio.get_running_loop()
        while self.app.recorded_total < count:
            waiter = loop.create_future()
            self._waiters.append(waiter)
            self.app.on_record = self._wake_waiters
            await waiter
        return self.requests

    def _wake_waiters(self) -> None:
        waiters, self._waiters = self._waiters, []
        self.app.on_record = None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    @property
    def connections_accepted(self) -> int:
        """TCP connections accepted so far (recorded requests carry their ``connection``)."""
        return self.app.connections_accepted
