"""The typed seam toward upstreams: what the gateway asks of an HTTP client.

`Transport.send()` returns once the response head arrived; the caller reads the body with
`read()` or `chunks()` and always ends with `release()` (`exchange(...)` does both). Every
transport failure comes out as a `plano.errors` error, mapped once by the implementation:

- `UpstreamConnectFailed`: no connection (refused, DNS, TLS handshake);
- `UpstreamReset`: the connection closed or reset before the response head;
- `UpstreamBodyBroken`: closed or reset mid-body, or `abort()`ed;
- `UpstreamTimeout` with its `phase` (connect, total, read);
- `UpstreamProtocolError`: the upstream's bytes are not HTTP/1.1.

Implementations: `plano.upstream.lean.LeanTransport` (the lean pooled HTTP/1.1 client) and
`plano.upstream.mock_transport.MockTransport` (scripted answers, for unit tests).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Limits:
    """Timeouts of one exchange, in seconds; None = unbounded."""

    total: float | None = None  # the whole exchange, head and body
    connect: float | None = None
    read: float | None = None  # longest silence between body bytes


class UpstreamResponse(Protocol):
    status: int
    raw_headers: list[tuple[bytes, bytes]]  # as received

    @property
    def content_type(self) -> str:
        """Media type, lower-cased, without parameters."""
        ...

    def header(self, name: str) -> str | None:
        """Case-insensitive lookup (the first value)."""
        ...

    @property
    def body(self) -> bytes | None:
        """The whole body once `read()` returned it."""
        ...

    async def read(self) -> bytes:
        """The whole body (a second call returns it again)."""
        ...

    def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives."""
        ...

    def abort(self) -> None:
        """Stop now (client gone): the connection is closed; a reader wakes with
        `UpstreamBodyBroken`."""
        ...

    def release(self) -> None:
        """Done: the connection back to the pool if the body was read to the end, else closed;
        timers cancelled; idempotent."""
        ...


Headers = Sequence[tuple[str, str]]


class Transport(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def send(
        self,
        method: bytes,
        url: str,
        headers: Headers,
        body: bytes,
        limits: Limits | None = None,
    ) -> UpstreamResponse:
        """Returns once the response head arrived; the caller must `release()` it."""
        ...


class exchange:  # lower-case: used like a function, `async with exchange(...) as resp`
    """`async with exchange(transport, b"POST", url, headers, body, limits) as resp:`
    sends, yields the response with its body unread, and releases it on the way out."""

    __slots__ = ("_args", "_resp", "_transport")

    def __init__(
        self,
        transport: Transport,
        method: bytes,
        url: str,
        headers: Headers,
        body: bytes = b"",
        limits: Limits | None = None,
    ) -> None:
        self._transport = transport
        self._args = (method, url, headers, body, limits)
        self._resp: UpstreamResponse | None = None

    async def __aenter__(self) -> UpstreamResponse:
        resp = self._resp = await self._transport.send(*self._args)
        return resp

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        resp = self._resp
        if resp is not None:
            self._resp = None
            resp.release()


def where(url: str) -> str:
    """Host and port of a URL, never its userinfo or query (which may carry secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"{host}:{port}" if port else host
