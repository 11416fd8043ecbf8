"""The time-to-first-token limit (`timeouts.first_token`): before a streamed answer is committed
to the client, the exchange reads it until its first content event (`prime`); the bytes read are
replayed to the relay by `Primed`, so nothing is lost and nothing was sent to the client if the
limit runs out first (the attempt is then retried or failed over like a first-byte stall).

What counts as content: any event with data, except the preambles a provider sends before it
starts generating — Anthropic's ``message_start``, ``ping`` and an empty text
``content_block_start``, the Responses API's ``response.created``/``in_progress``/``queued``, an
OpenAI chat chunk whose deltas only carry the role — and comments (keep-alives), which carry no
data. Only event streams (``text/event-stream``) are primed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Final

import orjson

from plano.codec.sse_scan import SseSplitter, event_data, split_events
from plano.upstream.transport import UpstreamResponse

MAX_PRIMED: Final = 1 << 20  # bytes held while waiting for the first token, at most
_PREAMBLES: Final = (
    b"message_start",
    b'"ping"',
    b"response.created",
    b"response.in_progress",
    b"response.queued",
)
_DELTA_CONTENT: Final = ("content", "tool_calls", "reasoning_content", "reasoning", "refusal")


def carries_token(data: bytes) -> bool:
    """Whether one event's data is generated content (or the end), not a preamble."""
    start = data[:48]
    if any(m in start for m in _PREAMBLES):
        return False
    if b"content_block_start" in start:
        return b'"text":""' not in data.replace(b" ", b"")
    if b'"delta"' in data and b'"role"' in data:  # an OpenAI chat chunk that may be role-only
        return _chat_content(data)
    return True


def _chat_content(data: bytes) -> bool:
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return True  # not ours to judge: the relay (and validate_stream) sees it
    choices = doc.get("choices") if isinstance(doc, dict) else None
    if not isinstance(choices, list) or not choices:
        return True
    for choice in choices:
        if not isinstance(choice, dict):
            return True
        if choice.get("finish_reason"):
            return True
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            return True
        if any(delta.get(k) for k in _DELTA_CONTENT):
            return True
    return False


async def prime(resp: UpstreamResponse) -> Primed:
    """Read `resp` (an event stream) until its first content event or its end; the caller
    bounds the wait. Raises what the body raises."""
    rest = aiter(resp.chunks())
    held: list[bytes] = []
    size = 0
    split = SseSplitter()
    while True:
        try:
            chunk = await anext(rest)
        except StopAsyncIteration:
            break
        held.append(chunk)
        size += len(chunk)
        block = split.feed(chunk)
        if block and _any_token(block):
            break
        if size > MAX_PRIMED:  # a flood of preambles: not ours to hold any longer
            break
    return Primed(resp, b"".join(held), rest)


def _any_token(block: bytes) -> bool:
    for event in split_events(block):
        data = event_data(event)
        if data is not None and carries_token(data):
            return True
    return False


class Primed:
    """A streamed response whose first bytes were already read: `chunks()` replays them, then
    goes on with the rest. Everything else is the response's."""

    __slots__ = ("_first", "_inner", "_rest", "raw_headers", "status")

    def __init__(self, inner: UpstreamResponse, first: bytes, rest: AsyncIterator[bytes]) -> None:
        self._inner = inner
        self._first = first
        self._rest = rest
        self.status = inner.status
        self.raw_headers = inner.raw_headers

    @property
    def content_type(self) -> str:
        return self._inner.content_type

    def header(self, name: str) -> str | None:
        return self._inner.header(name)

    @property
    def body(self) -> bytes | None:
        return self._inner.body

    async def read(self) -> bytes:
        return b"".join([c async for c in self.chunks()])

    async def chunks(self) -> AsyncIterator[bytes]:
        first, self._first = self._first, b""
        if first:
            yield first
        async for chunk in self._rest:
            yield chunk

    def abort(self) -> None:
        self._inner.abort()

    def release(self) -> None:
        self._inner.release()


if TYPE_CHECKING:

    def _is_a_response(p: Primed) -> UpstreamResponse:
        return p
