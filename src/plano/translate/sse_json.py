"""JSON events over SSE: the framing every HTTP streaming API here shares.

`JsonSse` returns the parsed JSON data of each event (`[DONE]` as `None`); event names are not
returned, since every API here repeats the event type inside its JSON. Events are cut by the shared
scanner (`plano.codec.sse_scan`: any WHATWG line endings, a leading BOM dropped, the incomplete
event held between chunks); only the event's `data` payload is parsed, once, from bytes (so a
multi-byte character split across chunks is whole by then). Comments and other fields are ignored.
"""

from __future__ import annotations

from typing import Any

import orjson

from plano import ir
from plano.codec.sse_scan import SseSplitter, block_data
from plano.errors import UpstreamProtocolError

DONE_MARK = b"[DONE]"
_loads = orjson.loads


class JsonSse:
    """Parsed JSON data of each event, as its blank line arrives (`[DONE]` as `None`)."""

    __slots__ = ("_split",)

    def __init__(self) -> None:
        self._split = SseSplitter(strip_bom=True)

    def feed(self, chunk: bytes) -> list[Any]:
        block = self._split.feed(chunk)
        return [_parse(data) for data in block_data(block)] if block else []

    def close(self) -> list[Any]:
        rest = self._split.close()
        return [_parse(data) for data in block_data(rest)] if rest else []


class JsonEventDecoder:
    """An upstream decoder for APIs whose stream is JSON events over SSE with a terminal event:
    subclasses turn one parsed event into IR events (`_event`) and set `_done` on the terminal
    one. A stream that ends before it gets a `StreamError` naming `TERMINAL`."""

    TERMINAL = "its final event"

    def __init__(self) -> None:
        self._sse = JsonSse()
        self._done = False

    def feed(self, chunk: bytes) -> list[ir.Event]:
        return self._events(self._sse.feed, chunk)

    def close(self) -> list[ir.Event]:
        if self._done:
            return []
        out = self._events(lambda _: self._sse.close(), b"")
        if not self._done:
            self._done = True
            out.append(ir.StreamError(f"upstream stream ended before {self.TERMINAL}"))
        return out

    def _events(self, source: Any, chunk: bytes) -> list[ir.Event]:
        if self._done:
            return []
        try:
            items = source(chunk)
        except UpstreamProtocolError as err:
            self._done = True
            return [ir.StreamError(err.message)]
        out: list[ir.Event] = []
        for doc in items:
            if not self._done and isinstance(doc, dict):
                self._event(doc, out)
        return out

    def _event(self, doc: dict[str, Any], out: list[ir.Event]) -> None:
        raise NotImplementedError


def _parse(data: bytes) -> Any:
    if data == DONE_MARK:
        return None
    try:
        return _loads(data)
    except orjson.JSONDecodeError:
        raise _not_json(data) from None


def _not_json(data: bytes) -> UpstreamProtocolError:
    shown = data[:80].decode("utf-8", "replace")
    return UpstreamProtocolError(f"upstream sent a stream event that is not JSON: {shown!r}")
