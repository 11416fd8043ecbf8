"""Usage from a relayed event stream, at the cost of a few substring counts per chunk.

Chunks are relayed untouched. The scanner keeps only the bytes of the event in progress (since the
last blank line); complete events that carry a usage value (not `"usage":null`) go through the SSE
decoder and are parsed as JSON, one event at a time.
"""

from __future__ import annotations

import re

import orjson

from plano.codec.sse import SseDecoder
from plano.wire.usage import Usage, usage_of

_MARK = b'"usage"'
_BOUNDARY = re.compile(rb"\r?\n\r?\n")
_NULL_AFTER = (b":null", b": null")
_NULL = b'"usage":null'  # OpenAI's spelling; other spellings take the slower exact path


def _usage_events(data: bytes, end: int) -> list[bytes]:
    """The complete events in `data[:end]` that carry a usage value (`"usage":null`, which
    every chunk of an OpenAI stream with `include_usage` but the last has, does not count)."""
    found: list[bytes] = []
    pos = 0
    while (i := data.find(_MARK, pos, end)) >= 0:
        pos = i + len(_MARK)
        if data.startswith(_NULL_AFTER, pos):
            continue
        lf, crlf = data.rfind(b"\n\n", 0, i), data.rfind(b"\r\n\r\n", 0, i)
        start = max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)
        m = _BOUNDARY.search(data, pos, end)
        stop = m.start() if m is not None else end
        found.append(data[start:stop])
        pos = m.end() if m is not None else end
    return found


def _boundary_end(data: bytes) -> int:
    """Index just past the last blank line (event boundary) in `data`, or 0 if none."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


class StreamUsage:
    """Keeps the bytes of the event in progress; complete events are decoded only when they
    carry a usage value, one by one (a chunk holding a whole stream decodes one event)."""

    __slots__ = ("_partial", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self._partial = b""  # bytes of the event in progress, from its first byte

    def feed(self, chunk: bytes) -> None:
        window = self._partial + chunk if self._partial else chunk
        end = _boundary_end(window)
        self._partial = window[end:]
        if end and (n := window.count(_MARK, 0, end)) and n > window.count(_NULL, 0, end):
            for event in _usage_events(window, end):
                for decoded in SseDecoder().feed(event + b"\n\n"):
                    self._take(decoded.data)

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
