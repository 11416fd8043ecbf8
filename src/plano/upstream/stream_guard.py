"""Guards on a committed event stream: the idle timeout between chunks, and (opt-in) a check
that every event's data is JSON, so a malformed event ends the stream with the dialect's error
event instead of reaching the client's parser.

With the check on, only whole events are forwarded (the shared scanner, ``plano.codec.sse_scan``,
holds the bytes after the last event boundary for the next chunk), so the error event never lands
inside a half-sent event. Memory stays bounded: at most one incomplete event (capped by
``MAX_PENDING``) is held.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from plano.codec.sse_scan import BOM, SseSplitter, event_data, split_events
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
            raise UpstreamTimeout("upstream did not answer in time", phase="read") from None
        yield chunk


def first_bad_event(block: bytes) -> int:
    """Offset of the first event in ``block`` (whole events) whose data is not JSON; -1 if none."""
    at = 0
    for event in split_events(block):
        data = event_data(event)
        if data is not None and data != b"[DONE]":
            try:
                orjson.loads(data)
            except orjson.JSONDecodeError:
                return at
        at += len(event)
    return -1


def _bad_at(block: bytes, first: bool) -> int:
    """`first_bad_event`, skipping the stream's BOM in its first block."""
    skip = len(BOM) if first and block.startswith(BOM) else 0
    bad = first_bad_event(block[skip:] if skip else block)
    return bad + skip if bad >= 0 else bad


async def _checked(source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    split = SseSplitter()
    first = True
    async for chunk in source:
        block = split.feed(chunk)
        if split.pending_size > MAX_PENDING:
            raise UpstreamProtocolError("the upstream sent an event larger than the gateway allows")
        if block:
            bad = _bad_at(block, first)
            first = False
            if bad >= 0:
                if bad:
                    yield block[:bad]  # the whole events before the bad one still go out
                raise UpstreamProtocolError("the upstream sent a malformed stream event")
            yield block
    rest = split.close()
    if rest.strip():
        bad = _bad_at(rest, first)
        if bad >= 0:
            if bad:
                yield rest[:bad]
            raise UpstreamProtocolError("the upstream stream ended inside a malformed event")
        yield rest
