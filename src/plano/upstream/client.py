"""The upstream HTTP client: one pooled aiohttp session per worker process.

Kept behind a small seam (`UpstreamClient`) so the pool can be swapped after measuring. Requests
go out with the body as bytes; responses come back undecoded (`auto_decompress=False`) so bytes can
be relayed as they arrive.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import aiohttp

from plano.errors import PlanoError, UpstreamTimeout, UpstreamUnavailable

Headers = Sequence[tuple[str, str]]


class UpstreamClient:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None
        self._on_close: list[Callable[[], Awaitable[None]]] = []

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run ``closer`` when the client closes (upstream-side resources of the same life)."""
        self._on_close.append(closer)

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, force_close=False)
        self._session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            skip_auto_headers=("Accept-Encoding", "Content-Type"),
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        for closer in self._on_close:
            await closer()

    @asynccontextmanager
    async def post(
        self, url: str, headers: Headers, body: bytes, deadline: aiohttp.ClientTimeout
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """POST and yield the response with its body unread; errors become PlanoErrors."""
        session = self._session
        if session is None:
            raise UpstreamUnavailable("the upstream client is not running")
        try:
            async with session.post(
                url, data=body, headers=list(headers), timeout=deadline, allow_redirects=False
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


def _where(url: str) -> str:
    """Host and port of a URL, never its userinfo or query (which may carry secrets)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{host}:{parts.port}" if parts.port else host
