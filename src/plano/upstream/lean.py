"""`LeanTransport`: the Transport on the lean pooled HTTP/1.1 client of `plano.http.client`.

Every transport failure is mapped here, once, onto `plano.errors`: those before the response
head as `send()` raises them, those of the body through the client's error map when the failure
is stored on the response (so `read()` and `chunks()` raise the mapped error with no wrapper per
chunk). The exchange's timers (total, read silence) are handed to the response, which cancels
them on `release()`.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Final

from plano.errors import (
    PlanoError,
    TimeoutPhase,
    UpstreamBodyBroken,
    UpstreamConnectFailed,
    UpstreamProtocolError,
    UpstreamReset,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from plano.http.client import (
    Connection,
    Http1Client,
    InFlight,
    ProtocolViolation,
    Response,
    ServerDisconnected,
)
from plano.upstream.transport import Headers, Limits, where

if TYPE_CHECKING:
    from plano.upstream.transport import Transport

_NO_LIMITS: Final = Limits()


class LeanTransport:
    """The pools of one worker process behind the `Transport` seam."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None) -> None:
        self._ssl = ssl_context
        self._client: Http1Client | None = None

    async def start(self) -> None:
        if self._client is None:
            loop = asyncio.get_running_loop()
            self._client = Http1Client(loop, self._ssl, error_map=body_error)

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def send(
        self,
        method: bytes,
        url: str,
        headers: Headers,
        body: bytes,
        limits: Limits | None = None,
    ) -> Response:
        client = self._client
        if client is None:
            raise UpstreamConnectFailed(
                f"could not connect to upstream {where(url)}: the transport is not running"
            )
        limits = limits or _NO_LIMITS
        total = limits.total
        flight = InFlight(asyncio.current_task())
        timer = asyncio.get_running_loop().call_later(total, flight.expire) if total else None
        try:
            response, _, conn = await client.request(
                method, url, headers, body, limits.connect, flight
            )
        except BaseException as exc:
            if timer is not None:
                timer.cancel()
            mapped = _head_error(exc, url, flight)
            if mapped is exc:
                raise
            raise mapped from exc
        if timer is not None:
            response.guard(timer)
        if limits.read:
            response.guard(_ReadWatch(conn, limits.read))
        return response


def _head_error(exc: BaseException, url: str, flight: InFlight) -> BaseException:
    """What `send()` raises for a failure before the response head (`exc` when it is not a
    transport failure: a PlanoError already, a real cancellation)."""
    if isinstance(exc, asyncio.CancelledError):
        if not (flight.expired and flight.task is not None):
            return exc  # a real cancellation goes on
        flight.task.uncancel()
        exc = TimeoutError()
    if isinstance(exc, PlanoError) or not isinstance(exc, Exception):
        return exc
    at = where(url)
    mapped: PlanoError
    if isinstance(exc, TimeoutError):
        phase: TimeoutPhase = "total" if flight.expired else "connect"
        mapped = UpstreamTimeout(f"upstream {at} did not answer in time ({phase})", phase=phase)
    elif isinstance(exc, ProtocolViolation):
        mapped = UpstreamProtocolError(f"upstream {at} answered with invalid HTTP: {exc}")
    elif isinstance(exc, ServerDisconnected):
        mapped = UpstreamReset(f"upstream {at} closed the connection before answering")
    elif isinstance(exc, ValueError):  # a header with a line break, a bad URL
        mapped = UpstreamUnavailable(f"cannot send to upstream {at}: {exc}")
    elif isinstance(exc, OSError) and flight.conn is None:  # refused, DNS, TLS handshake
        reason = exc.strerror or type(exc).__name__
        mapped = UpstreamConnectFailed(f"could not connect to upstream {at}: {reason}")
    elif isinstance(exc, OSError):
        mapped = UpstreamReset(f"upstream {at} failed before answering: {type(exc).__name__}")
    else:
        return exc
    return mapped


def body_error(exc: BaseException, host: str, port: int) -> BaseException:
    """The error map of the lean client: a failure of the body, as the reader sees it."""
    if isinstance(exc, PlanoError):
        return exc
    shown = f"[{host}]" if ":" in host else host
    at = f"{shown}:{port}"
    mapped: PlanoError
    if isinstance(exc, TimeoutError):
        mapped = UpstreamTimeout(f"upstream {at} did not finish in time (total)", phase="total")
    elif isinstance(exc, ProtocolViolation):
        mapped = UpstreamProtocolError(f"upstream {at} sent invalid HTTP: {exc}")
    else:
        mapped = UpstreamBodyBroken(f"upstream {at} response broke off: {exc}")
    mapped.__cause__ = exc
    return mapped


class _ReadWatch:
    """Fails the exchange when no byte arrived for `limit` seconds (checked, not re-armed,
    per chunk: one timer per period rather than one per chunk)."""

    __slots__ = ("_conn", "_handle", "_limit")

    def __init__(self, conn: Connection, limit: float) -> None:
        self._conn = conn
        self._limit = limit
        self._handle: asyncio.TimerHandle | None = conn.loop.call_later(limit, self._check)

    def _check(self) -> None:
        conn = self._conn
        idle = conn.loop.time() - conn.last_read
        if idle >= self._limit:
            self._handle = None
            t = conn.pool.target
            conn.fail(
                UpstreamTimeout(
                    f"upstream {t.host}:{t.port} sent nothing for {self._limit:g}s (read)",
                    phase="read",
                )
            )
        else:
            self._handle = conn.loop.call_later(self._limit - idle, self._check)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


if TYPE_CHECKING:

    def _is_a_transport(t: LeanTransport) -> Transport:
        return t
