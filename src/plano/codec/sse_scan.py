"""Sans-I/O Server-Sent Events event-boundary scanner: the one place that finds where events end.

An event ends with a blank line. Lines end with ``\\n``, ``\\r\\n`` or ``\\r`` (WHATWG HTML,
"Parsing an event stream"), mixed freely, so the byte pairs that end an event are a line ending
followed by another: ``\\n\\n``, ``\\n\\r``, ``\\r\\r`` (the second one a ``\\r\\n`` when a ``\\n``
follows it). A ``\\n`` always ends a line ending and a ``\\r`` always starts one, so a pair can be
recognised without looking further back, which is what lets a chunk be scanned on its own.

* :func:`last_boundary` - end of the last complete event in a buffer (C-level ``rfind`` only);
* :class:`SseSplitter` - incremental: ``feed(chunk)`` returns the chunk's complete events as one
  block of bytes (verbatim, ``b""`` when none) and holds the incomplete tail, without re-joining
  it per chunk; ``close()`` returns the tail;
* :func:`split_events` - cut a block into single events (every blank line ends one, so an extra
  blank line is an empty event; a final part without its blank line is returned last);
* :func:`event_lines` / :func:`event_data` - the lines of one event, and its ``data`` payload
  (``data`` lines joined by ``\\n``, one space after the colon dropped; ``None`` when it has none);
  :func:`block_data` - the payloads of a block's events, with a fast path for one-event blocks.

A ``\\r`` at the end of the bytes seen so far may be the first half of a ``\\r\\n``. By default the
splitter waits for the next byte before ending an event there, so the blocks are the same however
the stream is chunked. ``eager_cr=True`` ends the event at once instead (what :class:`SseDecoder
<plano.codec.sse.SseDecoder>` needs to dispatch without waiting); the ``\\n`` that may follow
then starts the next block, where it reads as an empty line, which changes no event.

A byte order mark (``\\xef\\xbb\\xbf``) is ignored at the start of a stream only: the splitter drops
it with ``strip_bom=True``; consumers that relay bytes verbatim keep it and skip :data:`BOM` in the
first block themselves.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "BOM",
    "SseSplitter",
    "block_data",
    "event_data",
    "event_lines",
    "last_boundary",
    "split_events",
]

BOM: Final = b"\xef\xbb\xbf"
_CR: Final = 0x0D
_LF: Final = 0x0A
# A line ending (a lone \r only when no \n follows it) and then the blank line's own ending.
_PAIR: Final = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r|\n)")
_EOL: Final = re.compile(rb"\r\n|\r|\n")
_EOL_END: Final = (b"\n", b"\r")


def last_boundary(data: bytes, eager_cr: bool = False) -> int:
    """End offset of the last blank line in ``data`` (0 when there is none).

    A blank line at ``data[0]`` is not reported (it would end an empty event). A ``\\r`` at the
    end of ``data`` does not end an event unless ``eager_cr``: it may be half of a ``\\r\\n``.
    """
    i = data.rfind(b"\n\n")
    best = i + 2 if i >= 0 else 0
    if data.find(b"\r") < 0:  # the usual case (`find` beats `in` on bytes)
        return best
    n = len(data)
    end = n - 1 if not eager_cr and data[n - 1] == _CR else n
    if data.rfind(b"\r", best, end) < 0:  # no \r after the last \n\n
        return best
    lo = best - 1 if best else 0
    k = max(data.rfind(b"\n\r", lo, end), data.rfind(b"\r\r", lo, end))
    if k < 0:
        return best
    k += 2
    return k + 1 if k < n and data[k] == _LF else k


def _straddle(held: bytearray, chunk: bytes, eager_cr: bool) -> int:
    """Offset in ``chunk`` where a blank line ends whose pair starts in ``held`` (which ends with
    a line-ending byte); -1 if none."""
    ctx = bytes(held[-2:])
    end = last_boundary(ctx + chunk[:2], eager_cr or len(chunk) > 2)
    return end - len(ctx) if end >= len(ctx) else -1


class SseSplitter:
    """Incremental splitter: ``feed(chunk) -> block of complete events``, ``close() -> tail``.

    Per chunk the work is one scan of the chunk and, when a boundary is found, one copy of the
    event that spanned chunks; the tail is kept in a ``bytearray`` (appending is amortised
    ``O(len(chunk))``). The blocks and the tail, concatenated, are the stream's bytes (less a
    leading BOM with ``strip_bom``).
    """

    __slots__ = ("_eager", "_held", "_start")

    def __init__(self, *, eager_cr: bool = False, strip_bom: bool = False) -> None:
        self._eager = eager_cr
        self._held = bytearray()
        self._start = strip_bom  # a BOM may still come

    @property
    def pending(self) -> bytes:
        """The bytes held: the incomplete event (and a final ``\\r`` not yet known to end one)."""
        return bytes(self._held)

    @property
    def pending_size(self) -> int:
        return len(self._held)

    def feed(self, chunk: bytes | bytearray | memoryview) -> bytes:
        """Consume a chunk; return the complete events it ends (and the tail before), or b""."""
        if type(chunk) is not bytes or self._start:
            chunk = self._bom(bytes(chunk)) if self._start else bytes(chunk)
        held = self._held
        if not held and chunk.endswith(b"\n\n"):
            return chunk  # the usual chunk: whole events, nothing held
        if chunk.find(b"\r") < 0:  # last_boundary's usual case, inline: this runs per chunk
            cut = chunk.rfind(b"\n\n") + 2
            cut = cut if cut > 1 else 0
        else:
            cut = last_boundary(chunk, self._eager)
        if not held:
            if cut == len(chunk):
                return chunk  # the usual chunk: whole events
            held += chunk[cut:]
            return chunk[:cut]
        if not cut and (
            not held.endswith(_EOL_END) or (cut := _straddle(held, chunk, self._eager)) < 0
        ):
            held += chunk
            return b""
        held += chunk[:cut]
        block = bytes(held)
        held[:] = chunk[cut:]
        return block

    def close(self) -> bytes:
        """End of stream: return the held bytes (maybe events whose end was a final ``\\r``, and
        a last event without its blank line), and forget them."""
        rest = bytes(self._held)
        self._held.clear()
        return rest

    def _bom(self, chunk: bytes) -> bytes:
        data = bytes(self._held) + chunk if self._held else chunk
        if len(data) < len(BOM) and BOM.startswith(data):
            self._held[:] = data
            return b""
        self._start = False
        self._held.clear()
        return data[len(BOM) :] if data.startswith(BOM) else data


def split_events(block: bytes) -> list[bytes]:
    """The single events in ``block``, which starts at an event's start; each ends with the line
    ending of its blank line, except a final part that has none (returned as it is)."""
    out: list[bytes] = []
    pos, n = 0, len(block)
    if block.find(b"\r") < 0:
        find = block.find
        while pos < n:
            if block[pos] == _LF:
                end = pos + 1  # an empty event
            else:
                end = find(b"\n\n", pos)
                end = n if end < 0 else end + 2
            out.append(block[pos:end])
            pos = end
        return out
    search = _PAIR.search
    while pos < n:
        first = block[pos]
        if first in (_LF, _CR):
            end = pos + (2 if block.startswith(b"\r\n", pos) else 1)
        else:
            m = search(block, pos)
            end = n if m is None else m.end()
        out.append(block[pos:end])
        pos = end
    return out


def event_lines(event: bytes) -> list[bytes]:
    """The lines of one event, line endings removed (the split leaves empty trailing items)."""
    return event.split(b"\n") if event.find(b"\r") < 0 else _EOL.split(event)


def event_data(event: bytes) -> bytes | None:
    """The ``data`` payload of one event: its ``data`` lines joined by ``\\n``; ``None`` without
    any (comments, keep-alives, empty events)."""
    return _data_lf(event) if event.find(b"\r") < 0 else _data(_EOL.split(event))


def block_data(block: bytes) -> list[bytes]:
    """The ``data`` payloads of the events in ``block`` (as :func:`split_events` cuts it) that
    have one, in order."""
    if block.find(b"\r") >= 0:
        found = (_data(_EOL.split(event)) for event in split_events(block))
    elif block.endswith(b"\n\n") and block.find(b"\n\n") == (last := len(block) - 2):
        line = block.rfind(b"\n", 0, last) + 1  # one event, the usual block: its last line
        if block.startswith(b"data: ", line) and block.find(b"data", 0, line) < 0:
            return [block[line + 6 : last]]  # `data: <payload>`, maybe after `event: <name>`
        one = _data(block.split(b"\n"))
        return [] if one is None else [one]
    else:
        found = (_data_lf(event) for event in split_events(block))
    return [data for data in found if data is not None]


def _data_lf(event: bytes) -> bytes | None:
    """:func:`event_data` for an event without ``\\r``; the shapes providers send come first."""
    n = len(event)
    last = n - 2 if event.endswith(b"\n\n") else n  # an event may come without its blank line
    if event.startswith(b"data: "):  # `data: <payload>`
        end = event.find(b"\n", 6)
        if end == last or (end < 0 and last == n):
            return event[6:last]
    elif event.startswith(b"event: "):  # `event: <name>` then `data: <payload>`
        nl = event.find(b"\n", 7) + 1
        if nl and event.startswith(b"data: ", nl):
            end = event.find(b"\n", nl + 6)
            if end == last or (end < 0 and last == n):
                return event[nl + 6 : last]
    return _data(event.split(b"\n"))


def _data(lines: list[bytes]) -> bytes | None:
    data: list[bytes] = []
    for line in lines:
        if line.startswith(b"data"):
            if len(line) == 4:
                data.append(b"")
            elif line[4] == 0x3A:  # ":"
                data.append(line[6:] if line.startswith(b" ", 5) else line[5:])
    if not data:
        return None
    return data[0] if len(data) == 1 else b"\n".join(data)
