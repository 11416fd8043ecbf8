"""JSON events over SSE: the framing every HTTP streaming API here shares.

`JsonSse` returns the parsed JSON data of each event (`[DONE]` as `None`); event names are not
returned, since every API here repeats the event type inside its JSON. Only the event JSON is
parsed, once, from bytes (so a multi-byte character split across chunks is whole by then).
Providers frame events as `data: <json>` (or `event: <name>` then `data: <json>`) ended by `\\n\\n`,
so that is the fast path: split on blank lines and pick the `data:` lines. The first carriage
return seen hands the stream to the general WHATWG decoder (`plano.codec.sse.SseDecoder`) for good,
which parses every line-ending style; comments and other fields are ignored either way.
"""

from __future__ import annotations

from typing import Any

import orjson

from plano import ir
from plano.codec.sse import SseDecoder
from plano.errors import UpstreamProtocolError

DONE_MARK = b"[DONE]"
_BOM = b"\xef\xbb\xbf"
_loads = orjson.loads


class JsonSse:
    __slots__ = ("_buf", "_general", "_start")

    def __init__(self) -> None:
        self._buf = b""
        self._general: SseDecoder | None = None
        self._start = True

    def feed(self, chunk: bytes) -> list[Any]:
        if (
            not self._buf
            and chunk.startswith(b"data: {")
            and chunk.find(b"\n") == len(chunk) - 2
            and chunk.endswith(b"\n\n")
            and self._general is None
        ):
            self._start = False  # exactly one one-line JSON event: the usual chunk
            try:
                return [_loads(chunk[6:-2])]
            except orjson.JSONDecodeError:
                raise _not_json(chunk[6:-2]) from None
        if not self._buf and chunk.startswith(b"event: ") and self._general is None:
            nl = chunk.find(b"\n")  # exactly one `event:` + `data:` event: the usual chunk
            if (
                chunk.startswith(b"data: {", nl + 1)
                and chunk.find(b"\n", nl + 1) == len(chunk) - 2
                and chunk.endswith(b"\n\n")
                and b"\r" not in chunk
            ):
                self._start = False
                return [_parse(chunk[nl + 7 : -2])]
        if self._general is not None:
            return [_parse(e.data.encode()) for e in self._general.feed(chunk)]
        buf = self._buf + chunk if self._buf else chunk
        if self._start:
            if len(buf) < 3 and _BOM.startswith(buf):
                self._buf = buf
                return []
            self._start = False
            if buf.startswith(_BOM):
                buf = buf[3:]
        if b"\r" in chunk:
            self._general = SseDecoder()
            self._buf = b""
            return [_parse(e.data.encode()) for e in self._general.feed(buf)]
        out: list[Any] = []
        start = 0
        find = buf.find
        while (end := find(b"\n\n", start)) >= 0:
            nl = find(b"\n", start, end)
            if nl < 0 and buf.startswith(b"data: ", start):  # `data: <json>`
                out.append(_parse(buf[start + 6 : end]))
            elif (  # `event: <name>` then `data: <json>`
                buf.startswith(b"event: ", start)
                and buf.startswith(b"data: ", nl + 1)
                and find(b"\n", nl + 1, end) < 0
            ):
                out.append(_parse(buf[nl + 7 : end]))
            else:
                _block(buf[start:end], out)
            start = end + 2
        self._buf = buf[start:] if start else buf
        return out

    def close(self) -> list[Any]:
        if self._general is not None:
            return [_parse(e.data.encode()) for e in self._general.close()]
        out: list[Any] = []
        rest, self._buf = self._buf, b""
        if rest.strip():
            _block(rest.rstrip(b"\n"), out)
        return out


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


def _block(block: bytes, out: list[Any]) -> None:
    data: list[bytes] = []
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(b" ") else value)
    if data:
        out.append(_parse(data[0] if len(data) == 1 else b"\n".join(data)))


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
