"""The upstream HTTP client seam: one pooled client per worker process.

`UpstreamClient.post(url, headers, body, deadline)` yields the response with its body unread
(`status`, `raw_headers`, `headers`, `content_type`, `read()`, `content.iter_any()`, `close()`)
and turns every transport failure into a `PlanoError`. Bodies are relayed undecoded.

Two implementations behind it: the lean HTTP/1.1 client of `plano.http.client` (default), and
aiohttp's (`PLANO_HTTP_CLIENT=aiohttp`), kept as a fallback one environment variable away.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from plano.errors import PlanoError, UpstreamTimeout, UpstreamUnavailable
from plano.http.client import (
    Deadline,
    Http1Client,
    InFlight,
    ProtocolViolation,
    ServerDisconnected,
)

Headers = Sequence[tuple[str, str]]


class UpstreamClient:
    def __init__(self, implementation: str | None = None) -> None:
        choice = implementation or os.environ.get("PLANO_HTTP_CLIENT", "").strip() or "lean"
        if choice not in ("lean", "aiohttp"):
            raise ValueError(f"PLANO_HTTP_CLIENT must be 'lean' or 'aiohttp', not {choice!r}")
        self.implementation = choice
        self._session: aiohttp.ClientSession | None = None
        self._lean: Http1Client | None = None
        self._on_close: list[Callable[[], Awaitable[None]]] = []

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run ``closer`` when the client closes (upstream-side resources of the same life)."""
        self._on_close.append(closer)

    async def start(self) -> None:
        if self.implementation == "lean":
            self._lean = Http1Client(asyncio.get_running_loop())
            return
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("Accept-Encoding", "Content-Type"),
        )

    async def close(self) -> None:
        if self._lean is not None:
            self._lean.close()
            self._lean = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        for closer in self._on_close:
            await closer()

    @asynccontextmanager
    async def post(
        self, url: str, headers: Headers, body: bytes, deadline: Deadline | None = None
    ) -> AsyncIterator[Any]:
        """POST and yield the response with its body unread; errors become PlanoErrors."""
        if self._lean is not None:
            async with self._lean_request(b"POST", url, headers, body, deadline) as resp:
                yield resp
            return
        session = self._session
        if session is None:
            raise UpstreamUnavailable("the upstream client is not running")
        timeout = (
            deadline
            if deadline is None or isinstance(deadline, aiohttp.ClientTimeout)
            else aiohttp.ClientTimeout(
                total=deadline.total,
                sock_connect=deadline.sock_connect,
                sock_read=deadline.sock_read,
            )
        )
        try:
            async with session.post(
                url, data=body, headers=list(headers), timeout=timeout, allow_redirects=False
            ) as resp:
                yield resp
        except PlanoError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout(f"upstream {_where(url)} did not answer in time") from exc
        except aiohttp.ClientConnectorError as exc:
            raise UpstreamUnavailable(
                f"could not connect to upstream {_where(url)}: {exc.strerror or 'refused'}"
            ) from exc
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise UpstreamUnavailable(
                f"upstream {_where(url)} failed: {type(exc).__name__}"
            ) from exc

    @asynccontextmanager
    async def _lean_request(
        self, method: bytes, url: str, headers: Headers, body: bytes, deadline: Deadline | None
    ) -> AsyncIterator[Any]:
        client = self._lean
        assert client is not None
        total = deadline.total if deadline is not None else None
        flight = InFlight(asyncio.current_task())
        timer = asyncio.get_running_loop().call_later(total, flight.expire) if total else None
        try:
            try:
                response, pool, conn = await client.request(
                    method, url, headers, body, deadline, flight
                )
            except asyncio.CancelledError:
                if flight.expired and flight.task is not None:
                    flight.task.uncancel()
                    raise TimeoutError from None
                raise
            except ValueError as exc:  # a header with a line break, a bad URL
                raise UpstreamUnavailable(f"cannot send to upstream {_where(url)}: {exc}") from exc
            watch = _ReadWatch(conn, deadline.sock_read) if deadline else None
            try:
                yield response
            finally:
                if watch is not None:
                    watch.cancel()
                if not response.complete:
                    response.close()
                pool.release(conn)
        except PlanoError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout(f"upstream {_where(url)} did not answer in time") from exc
        except (ServerDisconnected, ProtocolViolation) as exc:
            raise UpstreamUnavailable(f"upstream {_where(url)} failed: {exc}") from exc
        except (ConnectionError, OSError) as exc:
            if flight.conn is None:
                reason = getattr(exc, "strerror", None) or type(exc).__name__
                raise UpstreamUnavailable(
                    f"could not connect to upstream {_where(url)}: {reason}"
                ) from exc
            raise UpstreamUnavailable(
                f"upstream {_where(url)} failed: {type(exc).__name__}"
            ) from exc
        finally:
            if timer is not None:
                timer.cancel()


class _ReadWatch:
    """Fails the exchange when no byte arrived for `limit` seconds (checked, not re-armed,
    per chunk: one timer per period rather than one per chunk)."""

    __slots__ = ("_conn", "_handle", "_limit")

    def __init__(self, conn: Any, limit: float | None) -> None:
        self._conn = conn
        self._limit = limit
        self._handle: asyncio.TimerHandle | None = None
        if limit:
            self._handle = conn.loop.call_later(limit, self._check)

    def _check(self) -> None:
        conn = self._conn
        assert self._limit is not None
        idle = conn.loop.time() - conn.last_read
        if idle >= self._limit:
            self._handle = None
            conn.fail(TimeoutError())
        else:
            self._handle = conn.loop.call_later(self._limit - idle, self._check)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


def _where(url: str) -> str:
    """Host and port of a URL, never its userinfo or query (which may carry secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host
