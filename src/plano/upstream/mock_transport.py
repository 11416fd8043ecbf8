"""`MockTransport(handler)`: the Transport seam answered by a function, for unit tests.

The handler gets each `MockRequest` and returns a `MockReply`; raising a `PlanoError` from it
simulates a failure before the response head (`UpstreamConnectFailed`, `UpstreamReset`,
`UpstreamTimeout`). A reply's `chunks` script the body: a sequence whose items are bytes or an
exception (raised mid-body at that point; anything not already a `PlanoError` is mapped as the
real transport would: `TimeoutError` to `UpstreamTimeout(phase="read")`, the rest to
`UpstreamBodyBroken`), or an async iterable of bytes (the test controls the timing, e.g. with
asyncio events). Every request and response is recorded, so a test can assert that the code under
test released (or aborted) every response it opened.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from plano.errors import PlanoError, UpstreamBodyBroken, UpstreamTimeout
from plano.upstream.transport import Headers, Limits

if TYPE_CHECKING:
    from plano.upstream.transport import Transport, UpstreamResponse


@dataclass(frozen=True, slots=True)
class MockRequest:
    method: bytes
    url: str
    headers: Sequence[tuple[str, str]]
    body: bytes
    limits: Limits | None = None

    def header(self, name: str) -> str | None:
        key = name.lower()
        return next((v for k, v in self.headers if k.lower() == key), None)


Script = Sequence[bytes | BaseException] | AsyncIterable[bytes]


@dataclass(frozen=True, slots=True)
class MockReply:
    status: int = 200
    headers: Sequence[tuple[str, str]] = (("content-type", "application/json"),)
    body: bytes = b""
    chunks: Script | None = None  # the body as it arrives; `body` is ignored when set


Handler = Callable[[MockRequest], Awaitable[MockReply]]


def _mapped(exc: BaseException) -> BaseException:
    if isinstance(exc, PlanoError) or not isinstance(exc, Exception):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamTimeout("mock upstream fell silent", phase="read")
    return UpstreamBodyBroken(f"mock upstream broke off: {type(exc).__name__}")


class MockResponse:
    """One scripted response; `released`, `aborted` and `finished` (body read to its end) are
    there for the test's assertions."""

    def __init__(self, request: MockRequest, reply: MockReply) -> None:
        self.request = request
        self.status = reply.status
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in reply.headers]
        self._script: Script = reply.chunks if reply.chunks is not None else (reply.body,)
        self._source: AsyncIterator[bytes] | None = None
        self._body: bytes | None = None
        self._abort = asyncio.get_running_loop().create_future()
        self.released = False
        self.aborted = False
        self.finished = False

    @property
    def content_type(self) -> str:
        value = self.header("content-type") or "application/octet-stream"
        return value.split(";", 1)[0].strip().lower()

    def header(self, name: str) -> str | None:
        key = name.lower().encode("latin-1")
        return next((v.decode("latin-1") for k, v in self.raw_headers if k.lower() == key), None)

    @property
    def body(self) -> bytes | None:
        return self._body

    async def read(self) -> bytes:
        if self._body is None:
            self._body = b"".join([chunk async for chunk in self.chunks()])
        return self._body

    def chunks(self) -> AsyncIterator[bytes]:
        if self._source is None:
            self._source = self._play()
        return self._source

    async def _play(self) -> AsyncIterator[bytes]:
        script = self._script
        if isinstance(script, AsyncIterable):
            source = aiter(script)
            while True:
                step = asyncio.ensure_future(anext(source))
                await asyncio.wait((step, self._abort), return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    step.cancel()
                self._check_abort()
                try:
                    chunk = step.result()
                except StopAsyncIteration:
                    break
                except Exception as exc:
                    raise _mapped(exc) from exc
                if chunk:
                    yield chunk
        else:
            for item in script:
                self._check_abort()
                if isinstance(item, BaseException):
                    raise _mapped(item)
                if item:
                    yield item
        self._check_abort()
        self.finished = True

    def _check_abort(self) -> None:
        if self.aborted:
            raise UpstreamBodyBroken("mock upstream response aborted by the gateway")

    def abort(self) -> None:
        if not self.finished and not self.aborted:
            self.aborted = True
            self._abort.set_result(None)

    def release(self) -> None:
        if not self.released:
            self.abort()
            self.released = True


class MockTransport:
    """Answers every `send()` with `handler(request)`; records what happened."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[MockRequest] = []
        self.responses: list[MockResponse] = []
        self.started = False
        self.closed = False

    async def start(self) -> None:
        self.started = True

    async def close(self) -> None:
        self.closed = True

    async def send(
        self,
        method: bytes,
        url: str,
        headers: Headers,
        body: bytes,
        limits: Limits | None = None,
    ) -> MockResponse:
        request = MockRequest(method, url, tuple(headers), body, limits)
        self.requests.append(request)
        reply = await self._handler(request)
        response = MockResponse(request, reply)
        self.responses.append(response)
        return response

    @property
    def unreleased(self) -> list[MockResponse]:
        """Responses the code under test opened and never released."""
        return [r for r in self.responses if not r.released]


if TYPE_CHECKING:

    def _is_a_transport(t: MockTransport) -> Transport:
        return t

    def _is_a_response(r: MockResponse) -> UpstreamResponse:
        return r
