"""JSON events over SSE: the framing every HTTP streaming API here shares.

`JsonSse` returns the parsed JSON data of each event (`[DONE]` as `None`); event names are not
returned, since every API here repeats the event type inside its JSON. Events are cut by the shared
scanner (`plano.codec.sse_scan`: any WHATWG line endings, a leading BOM dropped, the incomplete
event held between chunks); only the event's `data` payload is parsed, once, from bytes (so a
multi-byte character split across chunks is whole by then). Comments and other fields are ignored.

Decoders read a chunk's events one at a time (`JsonSse.events`, `event_json`). A text delta, the
commonest event, is read through a `DeltaFrame` once one was learned: only its string is parsed.
When the consumer takes runs (`runs = True`), framed deltas in a row are read at once
(`DeltaFrame.run`: one parse for all their strings) into an `ir.TextRun`.
"""

from __future__ import annotations

import re
from typing import Any, Final, NamedTuple

import orjson

from plano import ir
from plano.codec.sse_scan import SseSplitter, block_data, event_data, split_events
from plano.errors import UpstreamProtocolError

DONE_MARK = b"[DONE]"
_loads = orjson.loads
_dumps = orjson.dumps
_split_blank = re.compile(b"\n\n").split


class JsonSse:
    """Parsed JSON data of each event, as its blank line arrives (`[DONE]` as `None`)."""

    __slots__ = ("_split",)

    def __init__(self) -> None:
        self._split = SseSplitter(strip_bom=True)

    def feed(self, chunk: bytes) -> list[Any]:
        block = self._split.feed(chunk)
        return [_parse(data) for data in block_data(block)] if block else []

    def events(self, chunk: bytes) -> list[bytes]:
        """The whole events `chunk` completes, each as its bytes (for `DeltaFrame` and
        `event_json`); the incomplete tail is held. In the usual block (`\n` line endings, no
        empty event) an event comes without its blank line, cut at C speed; else with it."""
        block = self._split.feed(chunk)
        if not block:
            return []
        if block.find(b"\r") < 0:  # the splitter ends the block with `\n\n`
            end = len(block) - 2
            if block.find(b"\n\n") == end:  # one event (a slow upstream's read)
                if block[:1] > b"\n":
                    return [block[:end]]
            elif block[end - 1 : end] != b"\n":
                parts = _split_blank(block)  # a regex split beats `bytes.split` on `\n\n`
                parts.pop()  # the empty part after the last blank line
                # No part empty or starting with `\n` (or a lower byte): no blank line runs
                # into another, every part is one whole event (a lower byte: the slow path).
                if min(parts)[:1] > b"\n":
                    return parts
        return split_events(block)

    def close(self) -> list[Any]:
        rest = self._split.close()
        return [_parse(data) for data in block_data(rest)] if rest else []


class JsonEventDecoder:
    """An upstream decoder for APIs whose stream is JSON events over SSE with a terminal event:
    subclasses turn one parsed event into IR events (`_event`) and set `_done` on the terminal
    one. A stream that ends before it gets a `StreamError` naming `TERMINAL`.

    With `FRAME_KEY` (the key before a text delta's string), the first event that is a text
    delta alone teaches a `DeltaFrame` (with `FRAME_NUMBER`, a counter that may differ), and
    later events framed alike are read by parsing their string alone."""

    TERMINAL = "its final event"
    FRAME_KEY: bytes | None = None
    FRAME_NUMBER: bytes | None = None

    def __init__(self) -> None:
        self._sse = JsonSse()
        self._done = False
        # None: not learned yet; False: none (no FRAME_KEY, or the event it was learned from).
        self._frame: DeltaFrame | bool | None = None if self.FRAME_KEY else False
        self._frame_index = 0  # the text block the frame's deltas belong to
        self.runs = False  # the consumer takes `ir.TextRun` (framed text deltas read at once)

    def feed(self, chunk: bytes) -> list[ir.Event]:
        if self._done:
            return []
        out: list[ir.Event] = []
        frame = self._frame
        events = self._sse.events(chunk)
        i, count = 0, len(events)
        while i < count:
            event = events[i]
            i += 1
            if frame:
                if self.runs and i < count:
                    run = frame.run(events, i - 1)  # type: ignore[union-attr]
                    if run is not None:
                        out.append(ir.TextRun(self._frame_index, run.texts, run.literals))
                        i = run.end
                        continue
                text = frame.text(event)  # type: ignore[union-attr]
                if text is not None:
                    out.append(ir.TextDelta(self._frame_index, text))
                    continue
            try:
                doc = event_json(event)
            except UpstreamProtocolError as err:
                self._done = True
                out.append(ir.StreamError(err.message))
                break
            if isinstance(doc, dict):
                n = len(out)
                self._event(doc, out)
                if frame is None and len(out) == n + 1:
                    new = out[n]
                    if type(new) is ir.TextDelta:
                        frame = self._frame = self._learn(event, new)
                if self._done:
                    break
        return out

    def _learn(self, event: bytes, delta: ir.TextDelta) -> DeltaFrame | bool:
        """The frame of `event`, which gave `delta` alone (False when it has none)."""
        assert self.FRAME_KEY is not None
        self._frame_index = delta.index
        return DeltaFrame.learn(event, self.FRAME_KEY, delta.text, self.FRAME_NUMBER) or False

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


class DeltaFrame:
    """The constant bytes around the one string that changes from event to event in a stream's
    commonest event (a text delta), learned from an event the full decoder read: a later chunk
    that is byte for byte the same outside that string is decoded by parsing the string alone
    ("decode only what you must"). Anything else (other events, several events in one chunk, a
    changed id or any other field) does not match and goes through the full decoder. A counter
    before the string (`number`, e.g. ``"sequence_number":``) may differ: any decimal digits.

    The frame's key (e.g. ``"content":``) must occur once in the learned event: a JSON string
    cannot hold an unescaped quote, so that occurrence is the key itself, not text."""

    __slots__ = ("_head", "_mid", "_tail")

    def __init__(self, head: bytes, mid: bytes | None, tail: bytes) -> None:
        self._head, self._mid, self._tail = head, mid, tail

    @classmethod
    def learn(
        cls, event: bytes, key: bytes, text: str, number: bytes | None = None
    ) -> DeltaFrame | None:
        """The frame of `event` (one whole chunk) around the string value after `key`, if that
        value is `text`; None when the event does not have that shape."""
        event = bytes(event)
        at = event.find(key)
        if at < 0 or event.find(key, at + 1) >= 0:
            return None
        start = at + len(key)
        end = string_end(event, start)
        if end < 0:
            return None
        try:
            value = _loads(event[start:end])
        except orjson.JSONDecodeError:
            return None
        if value != text:
            return None
        head, mid = event[:start], None
        if number is not None:
            n = head.find(number)
            if n < 0 or head.find(number, n + 1) >= 0:
                return None
            n += len(number)
            digits = n
            while head[digits : digits + 1].isdigit():
                digits += 1
            if digits == n:
                return None
            head, mid = head[:n], head[digits:]
        return cls(head, mid, event[end:])

    def text(self, chunk: bytes) -> str | None:
        """The string of a chunk framed as the learned event, else None."""
        head, tail = self._head, self._tail
        if not (chunk.startswith(head) and chunk.endswith(tail)):
            return None
        start = len(head)
        if self._mid is not None:
            end = chunk.find(self._mid, start)
            if end < 0 or not chunk[start:end].isdigit():
                return None
            start = end + len(self._mid)
        middle = chunk[start : len(chunk) - len(tail)]
        if middle.find(b"\n") >= 0:  # never inside one JSON string: more than one event
            return None
        try:
            value = _loads(middle)
        except orjson.JSONDecodeError:
            return None
        return value if type(value) is str else None

    def run(self, events: list[bytes], start: int) -> Run | None:
        """The texts of the events framed as the learned one from `events[start]` on, two or
        more in a row, read at once; None when fewer are framed or any framed event does not
        hold exactly one JSON string there (the caller reads them one at a time then).

        The strings are parsed as one array whose items are joined by a comma and a line feed:
        a line feed can only stand between JSON values, so each joined piece must be one whole
        value for the array to parse with one item per event. Their bytes are kept as the run's
        literals when they are exactly what `orjson.dumps` makes of the texts."""
        head, tail, mid = self._head, self._tail, self._mid
        end, n = start, len(events)
        while end < n and events[end].startswith(head) and events[end].endswith(tail):
            end += 1
        count = end - start
        if count < 2:
            return None
        cut, drop = len(head), len(tail)
        literals: list[bytes]
        if mid is None:
            literals = [event[cut : len(event) - drop] for event in events[start:end]]
        else:
            literals, numbers, skip = [], [], len(mid)
            for event in events[start:end]:
                at = event.find(mid, cut)
                if at < 0:
                    return None
                numbers.append(event[cut:at])
                literals.append(event[at + skip : len(event) - drop])
            if b"" in numbers or not b"".join(numbers).isdigit():
                return None
        body = b",\n".join(literals)
        if body.count(b"\n") != count - 1:  # a line feed inside a piece: not one JSON string
            return None
        try:
            texts = _loads(b"[" + body + b"]")
            "".join(texts)  # every item a string (TypeError otherwise)
        except (orjson.JSONDecodeError, TypeError):
            return None
        if len(texts) != count:
            return None
        exact = _dumps(texts) == b"[" + b",".join(literals) + b"]"
        return Run(texts, literals if exact else None, end)


class Run(NamedTuple):
    """What `DeltaFrame.run` read: the texts, their literals (see `ir.TextRun`), the index of
    the first event after the run."""

    texts: list[str]
    literals: list[bytes] | None
    end: int


def string_end(data: bytes, start: int) -> int:
    """The index after the JSON string literal that starts at `start`, or -1."""
    if data[start : start + 1] != b'"':
        return -1
    pos = start + 1
    while (quote := data.find(b'"', pos)) >= 0:
        back = quote - 1
        while data[back] == 0x5C:  # a backslash
            back -= 1
        if (quote - 1 - back) % 2 == 0:  # not escaped
            return quote + 1
        pos = quote + 1
    return -1


_NO_DATA: Final = object()


def event_json(event: bytes) -> Any:
    """The parsed JSON data of one event (`[DONE]` as None, an event without data as a value
    that is neither a dict nor None); UpstreamProtocolError when it is not JSON."""
    data = event_data(event)
    return _NO_DATA if data is None else _parse(data)


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
