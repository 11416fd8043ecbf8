"""Usage read from a relayed stream, whatever the network chunking."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from plano.codec.sse import encode_event
from plano.observability.usage import StreamUsage
from plano.wire.usage import Usage


def openai_stream(n: int, usage: dict[str, int] | None) -> bytes:
    out = b"".join(
        encode_event(orjson.dumps({"choices": [{"delta": {"content": f"w{i} "}}]}).decode())
        for i in range(n)
    )
    if usage is not None:
        out += encode_event(orjson.dumps({"choices": [], "usage": usage}).decode())
    return out + b"data: [DONE]\n\n"


def anthropic_stream() -> bytes:
    events = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {"usage": {"input_tokens": 11, "output_tokens": 1}},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "delta": {"type": "text_delta", "text": 'say "usage" x'},
            },
        ),
        ("message_delta", {"type": "message_delta", "usage": {"output_tokens": 6}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(encode_event(orjson.dumps(d).decode(), event=e) for e, d in events)


def feed_split(data: bytes, cuts: list[int]) -> Usage | None:
    su = StreamUsage()
    last = 0
    for cut in sorted(set(cuts)):
        su.feed(data[last:cut])
        last = cut
    su.feed(data[last:])
    return su.usage


def test_every_single_split_of_an_openai_stream() -> None:
    data = openai_stream(4, {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9})
    for cut in range(len(data) + 1):
        assert feed_split(data, [cut]) == Usage(5, 4, None), cut


def test_every_single_split_of_an_anthropic_stream() -> None:
    data = anthropic_stream()
    for cut in range(len(data) + 1):
        assert feed_split(data, [cut]) == Usage(11, 6, None), cut


@given(st.data())
def test_random_multi_splits(data: st.DataObject) -> None:
    raw = openai_stream(6, {"prompt_tokens": 123, "completion_tokens": 45})
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=12))
    assert feed_split(raw, cuts) == Usage(123, 45, None)


def test_no_usage_reported() -> None:
    assert feed_split(openai_stream(5, None), [7, 50]) is None


@given(st.lists(st.integers(min_value=1, max_value=40), max_size=12))
def test_include_usage_stream_with_null_usage_on_every_chunk(cuts: list[int]) -> None:
    """OpenAI's `include_usage` streams carry `"usage":null` on each chunk; only the last
    chunk's real usage counts, wherever the network splits the bytes."""
    data = b"".join(
        encode_event(
            orjson.dumps({"choices": [{"delta": {"content": f"w{i}"}}], "usage": None}).decode()
        )
        for i in range(6)
    )
    data += encode_event(
        orjson.dumps(
            {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": 7}}
        ).decode()
    )
    data += b"data: [DONE]\n\n"
    scanner = StreamUsage()
    pos = 0
    for size in cuts:
        scanner.feed(data[pos : pos + size])
        pos += size
    scanner.feed(data[pos:])
    assert scanner.usage == Usage(5, 7, None)
