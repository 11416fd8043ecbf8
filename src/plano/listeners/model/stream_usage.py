"""Token counts for every OpenAI chat stream, asked for by the gateway when the client did not.

An OpenAI-compatible upstream reports a stream's usage only when the request sets
`stream_options.include_usage`. When a streaming OpenAI chat client (relayed as it is, no
translation) did not set it, the gateway sets it on the upstream request (`ask_usage`) so logs,
metrics, cost and budgets have the real tokens, and takes out of the relayed events what the
client did not ask for (`strip_usage`): the final usage-only chunk (`"choices":[]`) and the
`"usage":null` field upstreams add to every other chunk. The client's stream is then what it
would have been without the gateway. Requests that asked for usage, and whole answers, are
untouched and cost nothing more.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final

import orjson

from plano.codec.sse_scan import split_events
from plano.wire.api import Api

_ASK: Final = b'"stream_options":{"include_usage":true},'
_NULL_AT: Final = re.compile(rb'"usage"\s*:\s*null')
_MARK: Final = b'"usage"'
_NULL_TAIL: Final = b',"usage":null}\n\n'  # the end of OpenAI's usual chunk
_TAIL_CUT: Final = len(_NULL_TAIL)
_EVENT_END: Final = b"}\n\n"
_USAGE_ONLY: Final = re.compile(rb'"choices"\s*:\s*\[\s*\]')
_USAGE_VALUE: Final = re.compile(rb'"usage"\s*:\s*\{')


def injects_usage(api: Api, stream: bool, doc: dict[str, Any]) -> bool:
    """Whether the gateway asks for usage on this (untranslated) request: an OpenAI chat
    stream whose client did not set `stream_options.include_usage`."""
    if api is not Api.OPENAI_CHAT or not stream:
        return False
    opts = doc.get("stream_options")
    return not (isinstance(opts, dict) and opts.get("include_usage") is True)


def ask_usage(body: bytes, doc: dict[str, Any]) -> bytes:
    """`body` (the encoding of `doc`) with `stream_options.include_usage` set; `doc` is left
    as the client sent it (a fallback's translation reads the client's wish from it)."""
    if "stream_options" not in doc and doc:
        i = body.find(b"{")
        if i >= 0:
            return body[: i + 1] + _ASK + body[i + 1 :]
    opts = doc.get("stream_options")
    asked = {**(opts if isinstance(opts, dict) else {}), "include_usage": True}
    return orjson.dumps({**doc, "stream_options": asked})


def strip_usage(block: bytes, take: Callable[[bytes], None] | None = None) -> bytes:
    """Complete events of the upstream stream without what only `include_usage` added. The
    usual block, one event whose last key is `"usage":null`, costs a suffix test and a search;
    a block of many events (a stream the upstream wrote at once) one split on that ending and a
    join, then a look at each `"usage"` left: a null of another spelling, or an event with a
    usage object, which is handed to `take` (so the relay reads the usage here instead of
    scanning the block again) and dropped when it is the usage-only event."""
    if block.endswith(_NULL_TAIL) and block.find(b"\n\n", 0, -_TAIL_CUT) < 0:
        return block[:-_TAIL_CUT] + b"}\n\n"
    pieces = block.split(_NULL_TAIL)  # the usual spelling, at the end of each event
    if len(pieces) > 1:
        block = _EVENT_END.join(pieces)
    elif _MARK not in block:
        return block
    parts: list[bytes] = []
    kept = pos = 0
    while (i := block.find(_MARK, pos)) >= 0:
        null = _NULL_AT.match(block, i)
        if null is not None:  # `, "usage": null`: cut from its comma
            comma = block.rfind(b",", kept, i)
            if comma >= 0 and not block[comma + 1 : i].strip():
                parts.append(block[kept:comma])
                kept = null.end()
            pos = null.end()
            continue
        if b"\r" in block:  # CR line endings: event by event
            rest = b"".join(_keep(e, take) for e in split_events(block[kept:]))
            return b"".join(parts) + rest if parts else rest
        start = block.rfind(b"\n\n", 0, i)
        start = 0 if start < 0 else start + 2
        end = block.find(b"\n\n", i)
        end = len(block) if end < 0 else end + 2
        event = block[start:end]
        if take is not None and _USAGE_VALUE.search(event) is not None:
            take(event)
        if _usage_only(event):
            parts.append(block[kept:start])
            kept = end
        pos = end
    if not parts:
        return block
    parts.append(block[kept:])
    return b"".join(parts)


def _keep(event: bytes, take: Callable[[bytes], None] | None) -> bytes:
    """`event` as relayed (b"" for the usage-only event); its usage handed to `take`."""
    if _MARK not in event:
        return event
    if take is not None and _USAGE_VALUE.search(event) is not None:
        take(event)
    return b"" if _usage_only(event) else event


def _usage_only(event: bytes) -> bool:
    """An event whose only content is the usage (`"choices": []` and a usage object)."""
    return _USAGE_ONLY.search(event) is not None and _USAGE_VALUE.search(event) is not None
