"""The usage the gateway asked for on a client's behalf, taken out of the relayed events."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.listeners.model.stream_usage import ask_usage, injects_usage, strip_usage
from plano.observability.usage import StreamUsage
from plano.wire.api import Api

CHUNK = (
    b'data: {"id":"c","choices":[{"delta":{"content":"a"},"finish_reason":null}],"usage":null}\n\n'
)
USAGE = b'data: {"id":"c","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2}}\n\n'
DONE = b"data: [DONE]\n\n"


def test_who_gets_usage_asked_for() -> None:
    assert injects_usage(Api.OPENAI_CHAT, True, {})
    assert injects_usage(Api.OPENAI_CHAT, True, {"stream_options": {"include_usage": False}})
    assert not injects_usage(Api.OPENAI_CHAT, True, {"stream_options": {"include_usage": True}})
    assert not injects_usage(Api.OPENAI_CHAT, False, {})
    assert not injects_usage(Api.ANTHROPIC_MESSAGES, True, {})


def test_ask_usage_splices_or_re_encodes() -> None:
    doc = {"model": "m", "stream": True}
    body = orjson.dumps(doc)
    asked = orjson.loads(ask_usage(b"  " + body, doc))
    assert asked == {**doc, "stream_options": {"include_usage": True}}
    other = {"model": "m", "stream_options": {"include_usage": False, "x": 1}}
    asked = orjson.loads(ask_usage(orjson.dumps(other), other))
    assert asked["stream_options"] == {"include_usage": True, "x": 1}
    assert other["stream_options"] == {"include_usage": False, "x": 1}  # the client's doc kept
    nulled = {"model": "m", "stream_options": None}
    assert orjson.loads(ask_usage(orjson.dumps(nulled), nulled))["stream_options"] == {
        "include_usage": True
    }


def test_strip_usage() -> None:
    plain = CHUNK.replace(b',"usage":null', b"")
    assert strip_usage(CHUNK) == plain
    assert strip_usage(CHUNK + CHUNK) == plain + plain
    assert strip_usage(CHUNK + USAGE + DONE) == plain + DONE
    assert strip_usage(USAGE) == b""
    spaced = b'data: {"id": "c", "choices": [], "usage": {"prompt_tokens": 1}}\n\n'
    assert strip_usage(spaced + DONE) == DONE
    nulls = b'data: {"id": "c", "choices": [{"delta": {}}], "usage": null}\n\n'
    assert strip_usage(nulls) == b'data: {"id": "c", "choices": [{"delta": {}}]}\n\n'
    # A chunk with choices and usage (some providers) keeps its usage: only usage-only go.
    both = b'data: {"choices":[{"delta":{}}],"usage":{"prompt_tokens":1}}\n\n'
    assert strip_usage(both) == both


def test_strip_usage_in_a_whole_stream_block() -> None:
    """A stream relayed as one block (the upstream wrote it at once): only the usage-only event
    goes, whatever the events before it say (a `"usage"` in the text is escaped JSON)."""
    text = b'data: {"choices":[{"delta":{"content":"the \\"usage\\": []"}}],"usage":null}\n\n'
    plain = text.replace(b',"usage":null', b"")
    block = CHUNK * 3 + text + USAGE + DONE
    assert strip_usage(block) == CHUNK.replace(b',"usage":null', b"") * 3 + plain + DONE
    crlf = block.replace(b"\n", b"\r\n")
    assert strip_usage(crlf) == strip_usage(block).replace(b"\n", b"\r\n")


def _taken(block: bytes) -> tuple[bytes, list[bytes]]:
    events: list[bytes] = []
    return strip_usage(block, events.append), events


def test_strip_usage_hands_over_the_usage_it_reads() -> None:
    """`take` gets each event that carries a usage object, once, whether or not it is dropped;
    null usages and text that mentions "usage" are not handed over."""
    text = b'data: {"choices":[{"delta":{"content":"the \\"usage\\": {}"}}],"usage":null}\n\n'
    both = b'data: {"choices":[{"delta":{}}],"usage":{"prompt_tokens":1}}\n\n'
    assert _taken(CHUNK) == (CHUNK.replace(b',"usage":null', b""), [])
    assert _taken(USAGE) == (b"", [USAGE])
    assert _taken(CHUNK * 3 + text + USAGE + DONE)[1] == [USAGE]
    assert _taken(both + DONE) == (both + DONE, [both])
    crlf = (CHUNK + USAGE + DONE).replace(b"\n", b"\r\n")
    assert _taken(crlf) == (
        CHUNK.replace(b',"usage":null', b"").replace(b"\n", b"\r\n") + DONE.replace(b"\n", b"\r\n"),
        [USAGE.replace(b"\n", b"\r\n")],
    )


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(["chunk", "usage", "both", "spaced_null", "text"]), max_size=8),
    st.booleans(),
)
def test_usage_read_while_stripping_equals_the_scan(kinds: list[str], crlf: bool) -> None:
    """Reading the usage inside `strip_usage` (what the relay does when it strips) finds the
    same totals as scanning the upstream's bytes with `StreamUsage.feed`."""
    pieces = {
        "chunk": CHUNK,
        "usage": USAGE,
        "both": b'data: {"choices":[{"delta":{}}],"usage":{"prompt_tokens":5}}\n\n',
        "spaced_null": b'data: {"choices": [{"delta": {}}], "usage": null}\n\n',
        "text": b'data: {"choices":[{"delta":{"content":"\\"usage\\":{\\"x\\":1}"}}]}\n\n',
    }
    block = b"".join(pieces[k] for k in kinds) + DONE
    if crlf:
        block = block.replace(b"\n", b"\r\n")
    scanned, read = StreamUsage(), StreamUsage()
    scanned.feed(block)
    strip_usage(block, read.take_event)
    got = (read.usage.prompt, read.usage.completion) if read.usage else None
    want = (scanned.usage.prompt, scanned.usage.completion) if scanned.usage else None
    assert got == want
