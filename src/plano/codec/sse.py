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
bounded by the largest event plus the bytes of dispatch-less blocks before it.

Event boundaries come from the shared scanner, :mod:`plano.codec.sse_scan` (``eager_cr``: an
event ends at a chunk's final ``\\r`` without waiting for a possible ``\\n``); each chunk is
scanned once for them, and each complete event's lines are parsed once (``O(n)`` in total,
whatever the chunking).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from plano.codec.sse_scan import BOM, SseSplitter, event_lines, split_events

__all__ = ["DONE", "SseDecoder", "SseEvent", "encode_event"]

DONE: Final = b"data: [DONE]\n\n"
"""The OpenAI stream terminator."""

_SPLIT_LINES: Final = re.compile(r"\r\n|\r|\n")
_SPLIT_LINES_B: Final = re.compile(rb"\r\n|\r|\n")
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
    """Incremental SSE decoder: ``feed(chunk) -> [events]``, then ``close() -> [last event]``.

    Event boundaries come from the shared scanner (:class:`~plano.codec.sse_scan.SseSplitter`,
    ending an event at a final ``\\r`` at once); each complete event's lines are then parsed.
    """

    __slots__ = ("_acc", "_split", "_start", "last_event_id", "reconnection_time")

    def __init__(self) -> None:
        self.last_event_id = ""
        """The WHATWG last event ID: the latest ``id`` seen, kept across events."""
        self.reconnection_time: int | None = None
        """The latest valid ``retry`` value seen, in milliseconds."""
        self._split = SseSplitter(eager_cr=True)
        self._acc = bytearray()  # complete blocks that dispatched nothing, for the next raw
        self._start = True  # no event parsed yet: the stream's BOM is still to skip

    @property
    def pending(self) -> bytes:
        """Bytes fed but not yet part of a dispatched event's ``raw``."""
        return bytes(self._acc) + self._split.pending

    def feed(self, data: bytes | bytearray | memoryview) -> list[SseEvent]:
        """Consume a chunk; return the events it completes, in order."""
        block = self._split.feed(data)
        return self._events(block) if block else []

    def close(self) -> list[SseEvent]:
        """End of stream: dispatch an event left without its blank line, then reset."""
        rest = self._split.close()
        events = self._events(rest) if rest else []
        self._acc.clear()
        self._start = True
        return events

    def _events(self, block: bytes) -> list[SseEvent]:
        if self._start:
            self._start = False
            if block.startswith(BOM):
                self._acc += BOM
                block = block[len(BOM) :]
        events: list[SseEvent] = []
        acc = self._acc
        for event in split_events(block):
            parsed = self._parse(event)
            if parsed is None:
                acc += event
                continue
            raw = bytes(acc) + event if acc else event
            acc.clear()
            events.append(SseEvent(*parsed, raw))
        return events

    def _parse(self, event: bytes) -> tuple[str | None, str, str | None, int | None] | None:
        data: list[str] | None = None
        kind = ident = None
        retry = None
        for raw_line in event_lines(event):
            if not raw_line or raw_line[0] == _COLON:
                continue  # the blank line, or a comment
            name, colon, value = raw_line.decode("utf-8", "replace").partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            if name == "data":
                if data is None:
                    data = [value]
                else:
                    data.append(value)
            elif name == "event":
                kind = value
            elif name == "id":
                if "\x00" not in value:
                    ident = self.last_event_id = value
            elif name == "retry" and value.isascii() and value.isdigit():
                retry = self.reconnection_time = int(value)
        if data is None:
            return None
        return kind, data[0] if len(data) == 1 else "\n".join(data), ident, retry


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
