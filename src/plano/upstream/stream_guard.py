"""Guards on a committed event stream: the idle timeout between chunks, and (opt-in) a check
that every event's data is JSON, so a malformed event ends the stream with the dialect's error
event instead of reaching the client's parser.

With the check on, only whole events are forwarded (the bytes after the last event boundary wait
for the next chunk), so the error event never lands inside a half-sent event. Memory stays
bounded: at most one incomplete event (capped by ``MAX_PENDING``) is held.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from plano.errors import UpstreamProtocolError, UpstreamTimeout

MAX_PENDING: Final = 1 << 20  # one event larger than this is refused as malformed


@dataclass(frozen=True, slots=True)
class StreamGuard:
    idle: float | None
    validate: bool

    def chunks(self, resp: Any) -> AsyncIterator[bytes]:
        source = resp.chunks() if self.idle is None else _timed(resp, self.idle)
        return _checked(source) if self.validate else source


async def _timed(resp: Any, idle: float) -> AsyncIterator[bytes]:
    """The stream's chunks; a gap longer than ``idle`` is a stalled stream (UpstreamTimeout)."""
    chunks = aiter(resp.chunks())
    while True:
        try:
            async with asyncio.timeout(idle):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise UpstreamTimeout("upstream did not answer in time") from None
        yield chunk


def _boundary(data: bytes) -> int:
    """The end of the last complete event in ``data`` (0 when there is none)."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


def first_bad_event(block: bytes) -> int:
    """Offset of the first event in ``block`` (whole events) whose data is not JSON; -1 if none."""
    sep = b"\r\n\r\n" if b"\r\n\r\n" in block else b"\n\n"
    at = 0
    for event in block.split(sep):
        start, at = at, at + len(event) + len(sep)
        lines = event.replace(b"\r", b"").split(b"\n")
        data = [line[5:].lstrip(b" ") for line in lines if line.startswith(b"data:")]
        if not data:
            continue
        payload = b"\n".join(data)
        if payload == b"[DONE]":
            continue
        try:
            orjson.loads(payload)
        except orjson.JSONDecodeError:
            return start
    return -1


async def _checked(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    pending = b""
    async for chunk in source:
        data = pending + chunk if pending else chunk
        cut = _boundary(data)
        pending = data[cut:]
        if len(pending) > MAX_PENDING:
            raise UpstreamProtocolError("the upstream sent an event larger than the gateway allows")
        if cut:
            block = data[:cut]
            bad = first_bad_event(block)
            if bad >= 0:
                if bad:
                    yield block[:bad]  # the whole events before the bad one still go out
                raise UpstreamProtocolError("the upstream sent a malformed stream event")
            yield block
    if pending.strip():
        if first_bad_event(pending) >= 0:
            raise UpstreamProtocolError("the upstream stream ended inside a malformed event")
        yield pending
