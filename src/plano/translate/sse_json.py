"""JSON events over SSE: the framing every HTTP streaming API here shares.

`JsonSse` wraps the incremental SSE decoder and parses each event's data as JSON (only the event
JSON, once); `[DONE]` arrives as `None`. `frame` builds one outgoing event: orjson never emits a raw
line break, so a JSON document is always one `data:` line.
"""

from __future__ import annotations

from typing import Any

import orjson

from plano.codec.sse import SseDecoder
from plano.errors import UpstreamProtocolError

DONE_MARK = "[DONE]"


class JsonSse:
    __slots__ = ("_sse",)

    def __init__(self) -> None:
        self._sse = SseDecoder()

    def feed(self, chunk: bytes) -> list[tuple[str | None, Any]]:
        return [_parse(e.event, e.data) for e in self._sse.feed(chunk)]

    def close(self) -> list[tuple[str | None, Any]]:
        return [_parse(e.event, e.data) for e in self._sse.close()]


def _parse(event: str | None, data: str) -> tuple[str | None, Any]:
    if data == DONE_MARK:
        return event, None
    try:
        return event, orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError(
            f"upstream sent a stream event that is not JSON: {data[:80]!r}"
        ) from None


def frame(doc: Any, event: str | None = None) -> bytes:
    body = b"data: " + orjson.dumps(doc) + b"\n\n"
    if event is None:
        return body
    return b"event: " + event.encode() + b"\n" + body
