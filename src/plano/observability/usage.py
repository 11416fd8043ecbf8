"""Usage from a relayed event stream, at the cost of a few substring counts per chunk.

Chunks are relayed untouched. The scanner keeps only the bytes of the event in progress (since the
last blank line); when the current event's bytes mention `"usage"`, they go through the SSE
decoder, and only events that carry usage are parsed as JSON.
"""

from __future__ import annotations

import orjson

from plano.codec.sse import SseDecoder
from plano.wire.usage import Usage, usage_of

_MARK = b'"usage"'
_NULLS = (b'"usage":null', b'"usage": null')


def _mentions_usage(data: bytes) -> bool:
    """True when `data` holds a usage value; `"usage":null` (every chunk of an OpenAI stream
    with `include_usage` but the last) does not count."""
    n = data.count(_MARK)
    return n > 0 and n > data.count(_NULLS[0]) + data.count(_NULLS[1])


def _after_last_boundary(data: bytes) -> bytes:
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    end = max(lf + 2 if lf >= 0 else -1, crlf + 4 if crlf >= 0 else -1)
    return data[end:] if end >= 0 else data


class StreamUsage:
    __slots__ = ("_decoder", "_partial", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self._decoder: SseDecoder | None = None
        self._partial = b""  # bytes of the event in progress, from its first byte

    def feed(self, chunk: bytes) -> None:
        if self._decoder is None:
            window = self._partial + chunk if self._partial else chunk
            if not _mentions_usage(window):
                self._partial = _after_last_boundary(window)
                return
            self._partial = b""
            self._decoder = SseDecoder()
            chunk = window
        for event in self._decoder.feed(chunk):
            if '"usage"' in event.data and _mentions_usage(event.data.encode()):
                self._take(event.data)
        pending = self._decoder.pending
        if not pending:  # between events: back to the cheap scan
            self._decoder = None
        elif not _mentions_usage(pending):
            self._decoder = None
            self._partial = pending

    def _take(self, data: str) -> None:
        try:
            found = usage_of(orjson.loads(data))
        except orjson.JSONDecodeError:
            return
        if found is None:
            return
        if self.usage is None:
            self.usage = found
        else:
            self.usage.merge(found)
