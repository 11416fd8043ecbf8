"""TEMPORARY (lead's stand-in until the seam branch merges): the Transport protocol as specified."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from plano.errors import PlanoError, UpstreamTimeout, UpstreamUnavailable


@dataclass(frozen=True, slots=True)
class Limits:
    total: float | None = None
    connect: float | None = None
    read: float | None = None


class UpstreamResponse(Protocol):
    status: int
    raw_headers: list[tuple[bytes, bytes]]

    @property
    def content_type(self) -> str: ...
    def header(self, name: str) -> str | None: ...
    @property
    def body(self) -> bytes | None: ...
    async def read(self) -> bytes: ...
    def chunks(self) -> AsyncIterator[bytes]: ...
    def abort(self) -> None: ...
    def release(self) -> None: ...


class Transport(Protocol):
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def send(
        self,
        method: bytes,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        limits: Limits | None = None,
    ) -> UpstreamResponse: ...


class _Adapted:
    def __init__(self, cm: Any, resp: Any) -> None:
        self._cm = cm
        self._resp = resp
        self.status = resp.status
        self.raw_headers = resp.raw_headers
        self._released = False

    @property
    def content_type(self) -> str:
        return str(self._resp.content_type)

    def header(self, name: str) -> str | None:
        v = self._resp.headers.get(name)
        return None if v is None else str(v)

    @property
    def body(self) -> bytes | None:
        return self._resp._body  # type: ignore[no-any-return]

    async def read(self) -> bytes:
        try:
            return await self._resp.read()  # type: ignore[no-any-return]
        except PlanoError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout("upstream did not answer in time") from exc
        except Exception as exc:
            raise UpstreamUnavailable(f"upstream failed: {type(exc).__name__}") from exc

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            async for c in self._resp.content.iter_any():
                yield c
        except PlanoError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout("upstream did not answer in time") from exc
        except Exception as exc:
            raise UpstreamUnavailable(f"upstream failed: {type(exc).__name__}") from exc

    def abort(self) -> None:
        self._resp.close()

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        fut = asyncio.ensure_future(self._cm.__aexit__(None, None, None))
        fut.add_done_callback(lambda f: f.exception())


class LegacyTransport:
    def __init__(self, client: Any) -> None:
        self._client = client

    async def start(self) -> None:
        await self._client.start()

    async def close(self) -> None:
        await self._client.close()

    async def send(
        self,
        method: bytes,
        url: str,
        headers: Sequence[tuple[str, str]],
        body: bytes,
        limits: Limits | None = None,
    ) -> UpstreamResponse:
        from plano.http.client import InFlight  # noqa: F401

        class _D:
            total = limits.total if limits else None
            sock_connect = limits.connect if limits else None
            sock_read = limits.read if limits else None

        cm = self._client.post(url, headers, body, _D() if limits else None)
        try:
            resp = await cm.__aenter__()
        except UpstreamUnavailable as err:
            if err.message.startswith("could not connect"):
                from plano.errors import UpstreamConnectFailed

                raise UpstreamConnectFailed(err.message) from None
            raise
        return _Adapted(cm, resp)
