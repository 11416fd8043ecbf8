"""Usage from a relayed event stream, at the cost of a few substring counts per chunk.

Chunks are relayed untouched. The shared scanner (`plano.codec.sse_scan.SseSplitter`) holds only
the bytes of the event in progress and hands back the complete events a chunk ends (usually the
chunk itself, uncopied); only when they carry a usage value (not `"usage":null`) are they cut into
events, and those events' data parsed as JSON, one event at a time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

import orjson

from plano.codec.sse_scan import SseSplitter, event_data, split_events
from plano.wire.usage import Usage, usage_of

_MARK = b'"usage"'
_NULL_AFTER = (b":null", b": null")
_NULL = b'"usage":null'  # OpenAI's spelling; other spellings take the slower exact path
# A usage value (an object): the regex engine finds these without a Python step per event that
# only says `"usage":null` (a block may hold a whole stream of them).
_VALUE: Final = re.compile(rb'"usage"\s*:\s*\{')


def _has_usage(event: bytes) -> bool:
    """Whether `event` has a `"usage"` key whose value is not null."""
    pos = 0
    while (i := event.find(_MARK, pos)) >= 0:
        pos = i + len(_MARK)
        if not event.startswith(_NULL_AFTER, pos):
            return True
    return False


def _events_with(block: bytes) -> Iterator[bytes]:
    """The events of a block (LF line endings) that hold a usage object, in order."""
    end = 0
    for found in _VALUE.finditer(block):
        i = found.start()
        if i < end:  # a second usage in the same event
            continue
        start = block.rfind(b"\n\n", 0, i)
        end = block.find(b"\n\n", i)
        end = len(block) if end < 0 else end + 2
        yield block[0 if start < 0 else start + 2 : end]


class StreamUsage:
    """Keeps the bytes of the event in progress; complete events are decoded only when they
    carry a usage value, one by one (a chunk holding a whole stream decodes one event)."""

    __slots__ = ("_split", "usage")

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self._split = SseSplitter(strip_bom=True)

    def feed(self, chunk: bytes) -> None:
        block = self._split.feed(chunk)
        if block and (n := block.count(_MARK)) and n > block.count(_NULL):
            if b"\r" in block:
                for event in split_events(block):
                    if _has_usage(event) and (data := event_data(event)) is not None:
                        self._take(data)
                return
            # Only the events that carry a usage object (a block may hold a whole stream).
            for event in _events_with(block):
                if (data := event_data(event)) is not None:
                    self._take(data)

    def take_event(self, event: bytes) -> None:
        """One complete event known to hold a usage object (`strip_usage` found it)."""
        data = event_data(event)
        if data is not None:
            self._take(data)

    def _take(self, data: bytes) -> None:
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
