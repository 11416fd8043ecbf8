"""Sans-I/O Server-Sent Events codec (WHATWG HTML, "Parsing an event stream").

:class:`SseDecoder` is incremental: feed it bytes as they arrive, in chunks of any size, and it
returns the events each chunk completes. It does no I/O and holds no async code.

Parsing follows the WHATWG rules:

* a line ends with ``\\n``, ``\\r\\n`` or ``\\r``; a ``\\r`` that ends one chunk may be followed by
  the ``\\n`` of the same line ending at the start of the next chunk;
* a leading UTF-8 byte order mark is ignored; every complete line is decoded as UTF-8 with
  replacement characters, so a multi-byte character split across chunks decodes correctly;
* lines starting with ``:`` are comments; a line without a colon is a field with an empty value;
  one space after the colon is stripped; ``data`` lines are joined with ``\\n``; ``id`` values
  containing NUL are ignored; ``retry`` values that are not all ASCII digits are ignored; unknown
  fields are ignored;
* a blank line dispatches the event, unless no ``data`` line was seen (then nothing is dispatched
  and the event type, id and retry of that block are dropped).

Departures, on purpose:

* :meth:`SseDecoder.close` dispatches a final event that is not terminated by a blank line
  (WHATWG discards it). Providers end streams with ``data: [DONE]`` without a newline often enough.
* ``SseEvent.event`` is ``None`` when no ``event`` field was given (WHATWG reports ``"message"``),
  and ``SseEvent.id`` / ``SseEvent.retry`` are the values given *in that event's block*; the
  persistent WHATWG "last event ID" is :attr:`SseDecoder.last_event_id`.

``SseEvent.raw`` holds the exact bytes the decoder consumed since the previous dispatched event,
through the line ending of the blank line that dispatched this one. That includes comment lines,
blocks that dispatched nothing (keep-alive comments, blocks without data), and a ``\\n`` that
completes a ``\\r\\n`` split across chunks. Hence, for any input and any chunking::

    b"".join(e.raw for e in events) + decoder.pending == all bytes fed

so a gateway can relay events verbatim and the client's parser sees the same stream. Memory is
bounded by the largest event plus the bytes of dispatch-less blocks before it; a chunk is scanned
once (``O(n)`` in total, whatever the chunking).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

__all__ = ["DONE", "SseDecoder", "SseEvent", "encode_event"]

DONE: Final = b"data: [DONE]\n\n"
"""The OpenAI stream terminator."""

_EOL: Final = re.compile(rb"\r\n?|\n")
_SPLIT_LINES: Final = re.compile(r"\r\n|\r|\n")
_SPLIT_LINES_B: Final = re.compile(rb"\r\n|\r|\n")
_BOM: Final = b"\xef\xbb\xbf"
_CR: Final = 0x0D
_LF: Final = 0x0A
_COLON: Final = 0x3A


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event. ``raw`` (see the module doc) is not part of equality."""

    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None
    raw: bytes = field(default=b"", compare=False, repr=False)


class SseDecoder:
    """Incremental SSE decoder: ``feed(chunk) -> [events]``, then ``close() -> [last event]``."""

    __slots__ = (
        "_buf",
        "_data",
        "_event",
        "_id",
        "_pos",
        "_retry",
        "_search",
        "_skip_lf",
        "_start",
        "last_event_id",
        "reconnection_time",
    )

    def __init__(self) -> None:
        self.last_event_id = ""
        """The WHATWG last event ID: the latest ``id`` seen, kept across events."""
        self.reconnection_time: int | None = None
        """The latest valid ``retry`` value seen, in milliseconds."""
        self._reset()

    def _reset(self) -> None:
        self._buf = bytearray()
        self._pos = 0  # start of the first line not parsed yet
        self._search = 0  # no line ending in buf[_pos:_search]
        self._skip_lf = False  # the last line ended with a \r at the end of the buffer
        self._start = True  # nothing fed yet: a BOM may come
        self._data: list[str] | None = None
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None

    @property
    def pending(self) -> bytes:
        """Bytes fed but not yet part of a dispatched event's ``raw``."""
        return bytes(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[SseEvent]:
        """Consume a chunk; return the events it completes, in order."""
        if not data:
            return []
        buf = self._buf
        buf += data
        if self._skip_lf:
            self._skip_lf = False
            if buf[self._pos] == _LF:  # second half of a \r\n split across chunks
                self._pos += 1
                self._search = self._pos
        if self._start:
            if len(buf) < len(_BOM) and _BOM.startswith(buf):
                return []
            self._start = False
            if buf.startswith(_BOM):
                self._pos = self._search = len(_BOM)
        return self._scan(buf)

    def close(self) -> list[SseEvent]:
        """End of stream: dispatch an event left without its blank line, then reset."""
        buf = self._buf
        events: list[SseEvent] = []
        if self._pos < len(buf) and buf[self._pos] != _COLON:
            self._line(buf[self._pos :])
        if self._data is not None:
            events.append(self._dispatch(bytes(buf)))
        self._reset()
        return events

    def _scan(self, buf: bytearray) -> list[SseEvent]:
        events: list[SseEvent] = []
        pos, cut, search = self._pos, 0, self._search
        end = len(buf)
        while True:
            m = _EOL.search(buf, search)
            if m is None:
                break
            eol, nxt = m.span()
            if nxt == end and nxt - eol == 1 and buf[eol] == _CR:
                self._skip_lf = True
            if eol == pos:  # blank line
                if self._data is not None:
                    events.append(self._dispatch(bytes(buf[cut:nxt])))
                    cut = nxt
                else:
                    self._event = self._id = None
                    self._retry = None
            elif buf[pos] != _COLON:  # not a comment
                self._line(buf[pos:eol])
            pos = search = nxt
        if cut:
            del buf[:cut]
            pos -= cut
        self._pos = pos
        self._search = len(buf)
        return events

    def _line(self, raw_line: bytearray) -> None:
        line = raw_line.decode("utf-8", "replace")
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            if self._data is None:
                self._data = [value]
            else:
                self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\x00" not in value:
                self._id = value
                self.last_event_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
            self.reconnection_time = self._retry

    def _dispatch(self, raw: bytes) -> SseEvent:
        data = self._data
        assert data is not None
        ev = SseEvent(
            self._event, data[0] if len(data) == 1 else "\n".join(data), self._id, self._retry, raw
        )
        self._data = None
        self._event = self._id = None
        self._retry = None
        return ev


def encode_event(
    data: str | bytes,
    event: str | None = None,
    id: str | None = None,
    retry: int | None = None,
) -> bytes:
    """Encode one event: ``event: x\\nid: y\\ndata: line\\n...\\n\\n``.

    Data containing line breaks (``\\n``, ``\\r\\n`` or ``\\r``) becomes several ``data:`` lines,
    which a decoder joins back with ``\\n``.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if b"\n" in raw or b"\r" in raw:
        body = b"".join(b"data: " + line + b"\n" for line in _SPLIT_LINES_B.split(raw))
    else:
        body = b"data: " + raw + b"\n"
    head = b""
    if event is not None:
        head += _field("event", event)
    if id is not None:
        if "\x00" in id:
            raise ValueError("SSE id must not contain NUL")
        head += _field("id", id)
    if retry is not None:
        if retry < 0:
            raise ValueError("SSE retry must be >= 0")
        head += b"retry: %d\n" % retry
    return head + body + b"\n"


def _field(name: str, value: str) -> bytes:
    if _SPLIT_LINES.search(value):
        raise ValueError(f"SSE {name} must not contain a line break")
    return f"{name}: {value}\n".encode()
