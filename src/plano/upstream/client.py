"""The older upstream client seam, kept until the model listener moves to `Transport`.

`UpstreamClient.post(url, headers, body, deadline)` yields the response with its body unread; it
is `LeanTransport.send` + `release()`, with the deadline given in aiohttp's `ClientTimeout`
spelling (`total`, `sock_connect`, `sock_read`). Errors are the transport's (`plano.errors`); a
`TimeoutError` raised inside the caller's block (the stream guard's idle timer) comes out as
`UpstreamTimeout`, as it did before the Transport seam (`exchange()` maps nothing of the caller's).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from plano.errors import UpstreamTimeout
from plano.upstream.lean import LeanTransport
from plano.upstream.transport import Limits, where

Headers = Sequence[tuple[str, str]]


class UpstreamClient:
    def __init__(self, transport: LeanTransport | None = None) -> None:
        self.transport = transport or LeanTransport()
        self._on_close: list[Callable[[], Awaitable[None]]] = []

    def on_close(self, closer: Callable[[], Awaitable[None]]) -> None:
        """Run ``closer`` when the client closes (upstream-side resources of the same life)."""
        self._on_close.append(closer)

    async def start(self) -> None:
        await self.transport.start()

    async def close(self) -> None:
        await self.transport.close()
        for closer in self._on_close:
            await closer()

    @asynccontextmanager
    async def post(
        self, url: str, headers: Headers, body: bytes, deadline: Any = None
    ) -> AsyncIterator[Any]:
        """POST and yield the response with its body unread; errors are PlanoErrors."""
        limits = (
            None
            if deadline is None
            else Limits(
                getattr(deadline, "total", None),
                getattr(deadline, "sock_connect", None),
                getattr(deadline, "sock_read", None),
            )
        )
        resp = await self.transport.send(b"POST", url, headers, body, limits)
        try:
            yield resp
        except TimeoutError as exc:  # the stream guard's idle timer, raised in the caller's block
            raise UpstreamTimeout(
                f"upstream {where(url)} did not answer in time", phase="read"
            ) from exc
        finally:
            resp.release()


_where = where
