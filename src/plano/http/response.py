"""One upstream response of the lean client: status and headers at once, the body as it arrives.

The response owns its connection until `release()`: the per-exchange timers (handed over by the
caller with `guard()`) are cancelled there, and the connection goes back to its pool when the body
arrived whole, else it is closed. A failure of the body (the connection closed or reset, a timer
that fired, `abort()`) is stored once, passed through the client's error map, and raised to the
reader from `read()` or `chunks()`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Final, Protocol

if TYPE_CHECKING:
    import asyncio

HIGH_WATER: Final = 1 << 20  # body bytes buffered before reading pauses

# Turns a transport failure of the body (ServerDisconnected, ProtocolViolation, TimeoutError)
# into the error the reader sees; injected by the caller so this package imports nothing above it.
ErrorMap = Callable[[BaseException, str, int], BaseException]  # (failure, host, port)


class Connection(Protocol):
    """What a response needs of its connection (`client.Connection`)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def host(self) -> str: ...  # of the upstream, as an error map is told

    @property
    def port(self) -> int: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def abort(self) -> None: ...

    def release(self) -> None: ...  # back to its pool, or closed


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class ServerDisconnected(ConnectionError):
    """The upstream closed the connection before the response was complete."""


class ProtocolViolation(ConnectionError):
    """The upstream's bytes are not a valid HTTP/1.1 response."""


class ResponseHeaders:
    """Case-insensitive read access to the response headers (names compared lower-cased)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self._raw = raw

    def get(self, name: str, default: str | None = None) -> str | None:
        key = name.lower().encode("latin-1")
        for k, v in self._raw:
            if k.lower() == key:
                return v.decode("latin-1")
        return default

    def getall(self, name: str) -> list[str]:
        key = name.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self._raw if k.lower() == key]

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def items(self) -> Iterator[tuple[str, str]]:
        return ((k.decode("latin-1"), v.decode("latin-1")) for k, v in self._raw)


class Response:
    """`read()` returns the whole body; `chunks()` yields it as it arrives (what has arrived
    since the last chunk, joined); `abort()` gives up on the rest; `release()` ends the exchange.
    (`content.iter_any()`, `headers` and `close()` are the older spellings.)"""

    def __init__(self, conn: Connection, error_map: ErrorMap | None = None) -> None:
        self._conn = conn
        self._map = error_map
        self.status = 0
        self.reason = ""
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._waiter: asyncio.Future[None] | None = None
        self._done = False
        self._error: BaseException | None = None
        self._body: bytes | None = None  # what `read()` returned (a second call returns it too)
        self._whole = False  # `read()` waits for the whole body: reading never pauses
        self._content_type: str | None = None
        self._timers: list[Cancellable] | None = None
        self.released = False

    @property
    def content(self) -> Response:
        """aiohttp's `resp.content.iter_any()` spelling. A property, not an attribute: a
        reference to itself would make every response cyclic garbage, freed only by the
        collector (which then ran about every 250 requests at 1 connection)."""
        return self

    @property
    def headers(self) -> ResponseHeaders:
        return ResponseHeaders(self.raw_headers)

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        key = name.lower().encode("latin-1")
        for k, v in self.raw_headers:
            if k.lower() == key:
                return v.decode("latin-1")
        return None

    @property
    def complete(self) -> bool:
        """The whole body arrived (or the exchange failed)."""
        return self._done

    @property
    def body(self) -> bytes | None:
        return self._body

    @property
    def content_type(self) -> str:
        found = self._content_type
        if found is None:
            value = self.header("content-type") or "application/octet-stream"
            found = self._content_type = value.split(";", 1)[0].strip().lower()
        return found

    def guard(self, timer: Cancellable) -> None:
        """Cancel `timer` when the response is released."""
        if self.released:
            timer.cancel()
        elif self._timers is None:
            self._timers = [timer]
        else:
            self._timers.append(timer)

    # -- fed by the connection ----------------------------------------------------------------

    def _fed(self) -> None:
        """After a read whose body chunks the connection appended to `_chunks` (and counted in
        `_buffered`): pause reading above the high-water mark, wake the reader once."""
        if self._buffered > HIGH_WATER and not self._whole:
            self._conn.pause()
        self._wake()

    def _finish(self, error: BaseException | None = None) -> None:
        if self._done:
            return
        self._done = True
        if error is not None and self._map is not None:
            error = self._map(error, self._conn.host, self._conn.port)
        self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self) -> None:
        waiter = self._waiter = self._conn.loop.create_future()
        try:
            await waiter
        finally:
            self._waiter = None

    # -- read by the caller -------------------------------------------------------------------

    def _take(self) -> bytes:
        chunks = self._chunks
        data = chunks.popleft() if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        if self._buffered > HIGH_WATER:
            self._conn.resume()
        self._buffered = 0
        return data

    async def read(self) -> bytes:
        """The whole body (it can be read again: the same bytes)."""
        body = self._body
        if body is not None:
            return body
        # The caller takes nothing before the end: pausing past HIGH_WATER would wait forever.
        self._whole = True
        self._conn.resume()
        while not self._done:
            await self._wait()
        if self._error is not None:
            raise self._error
        body = self._body = self._take() if self._chunks else b""
        return body

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            if self._chunks:
                yield self._take()
                continue
            if self._done:
                if self._error is not None:
                    raise self._error
                return
            await self._wait()

    iter_any = chunks

    def abort(self) -> None:
        """Stop now: the connection is closed and a waiting reader wakes with the error (a body
        that already arrived whole is left as it is: its connection is still good)."""
        if self._done:
            return
        self._chunks.clear()
        self._buffered = 0
        self._conn.abort()
        self._finish(ServerDisconnected("response aborted by the gateway"))

    close = abort

    def release(self) -> None:
        """End of the exchange (idempotent): timers cancelled; the connection back to its pool
        when the body arrived whole, else closed."""
        if self.released:
            return
        if not self._done:
            self.abort()
        self.released = True
        timers = self._timers
        if timers is not None:
            self._timers = None
            for timer in timers:
                timer.cancel()
        self._conn.release()
