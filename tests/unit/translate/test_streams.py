"""Stream decoders: the same IR events whatever the byte split; truncation is a StreamError."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano import ir
from plano.translate import StreamDecoder, upstream_codec
from plano.wire.api import Api
from tests.unit.translate.wire_examples import ANTHROPIC_STREAM, CHAT_STREAM, RESPONSES_STREAM

STREAMS = {
    Api.OPENAI_CHAT: CHAT_STREAM,
    Api.ANTHROPIC_MESSAGES: ANTHROPIC_STREAM,
    Api.OPENAI_RESPONSES: RESPONSES_STREAM,
}


def decoder(api: Api) -> StreamDecoder:
    codec = upstream_codec(api)
    assert codec is not None
    return codec.stream_decoder()


def decode(api: Api, pieces: list[bytes]) -> list[ir.Event]:
    dec = decoder(api)
    out: list[ir.Event] = []
    for piece in pieces:
        out.extend(dec.feed(piece))
    return out + dec.close()


def split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@pytest.mark.parametrize("api", list(STREAMS))
def test_every_single_split_gives_the_same_events(api: Api) -> None:
    data = STREAMS[api]
    whole = decode(api, [data])
    assert isinstance(whole[0], ir.MessageStart) and isinstance(whole[-1], ir.MessageStop)
    for cut in range(1, len(data)):
        assert decode(api, [data[:cut], data[cut:]]) == whole, cut


@pytest.mark.parametrize("api", list(STREAMS))
def test_byte_by_byte_gives_the_same_events(api: Api) -> None:
    data = STREAMS[api]
    assert decode(api, [data[i : i + 1] for i in range(len(data))]) == decode(api, [data])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(STREAMS)), st.lists(st.integers(min_value=0), max_size=30))
def test_any_chunking_gives_the_same_events(api: Api, cuts: list[int]) -> None:
    data = STREAMS[api]
    assert decode(api, split_at(data, cuts)) == decode(api, [data])


@pytest.mark.parametrize("api", list(STREAMS))
def test_truncated_stream_ends_with_a_stream_error(api: Api) -> None:
    data = STREAMS[api]
    cut = data.rindex(b"data:", 0, len(data) - 20)  # drop the terminal event(s)
    events = decode(api, [data[:cut]])
    assert isinstance(events[-1], ir.StreamError)
    assert not any(isinstance(e, ir.MessageStop) for e in events)


def test_garbage_event_is_a_stream_error_and_nothing_follows() -> None:
    dec = decoder(Api.ANTHROPIC_MESSAGES)
    events = dec.feed(b"event: message_start\ndata: {not json\n\n" + ANTHROPIC_STREAM)
    assert len(events) == 1 and isinstance(events[0], ir.StreamError)
    assert dec.close() == []


def test_chat_stream_events_in_detail() -> None:
    events = decode(Api.OPENAI_CHAT, [CHAT_STREAM])
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "MessageStart",
        "BlockStart",
        "TextDelta",
        "BlockStop",
        "BlockStart",
        "ToolArgsDelta",
        "BlockStop",
        "BlockStart",
        "ToolArgsDelta",
        "BlockStop",
        "MessageDelta",
        "MessageStop",
    ]
    assert events[2] == ir.TextDelta(0, "Héllo — ")
    assert events[4] == ir.BlockStart(
        1, "tool_call", "call_DdmO9pD3xa9XTPNJ32zg2hcA", "get_weather"
    )
    delta = events[-2]
    assert isinstance(delta, ir.MessageDelta)
    assert delta.stop_reason is ir.StopReason.TOOL_USE
    assert delta.usage == ir.Usage(input=82, output=17, cache_read=64)


def test_anthropic_stream_events_in_detail() -> None:
    events = decode(Api.ANTHROPIC_MESSAGES, [ANTHROPIC_STREAM])
    start = events[0]
    assert isinstance(start, ir.MessageStart)
    assert start.usage.input == 572 and start.usage.cache_read == 100  # input includes cache
    assert (
        ir.ThinkingDelta(0, "", signature="EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds")
        in events
    )
    assert ir.TextDelta(1, "Let me check 🌤") in events
    args = "".join(e.partial_json for e in events if isinstance(e, ir.ToolArgsDelta))
    assert args == '{"location": "San Francisco"}'
    delta = next(e for e in events if isinstance(e, ir.MessageDelta))
    assert delta.stop_reason is ir.StopReason.TOOL_USE and delta.usage.output == 89
    assert delta.usage.input is None  # not repeated in message_delta: the start's value stands


def test_responses_stream_events_in_detail() -> None:
    events = decode(Api.OPENAI_RESPONSES, [RESPONSES_STREAM])
    assert events[1] == ir.BlockStart(0, "thinking")
    assert ir.ThinkingDelta(0, "Thinking it over.") in events
    assert ir.ThinkingDelta(0, "", signature="gAAAAB-opaque") in events
    assert ir.TextDelta(1, "Hi à tous") in events
    assert ir.BlockStart(2, "tool_call", "call_9", "lookup") in events
    delta = events[-2]
    assert isinstance(delta, ir.MessageDelta)
    assert delta.stop_reason is ir.StopReason.TOOL_USE
    assert delta.usage.reasoning == 5 and delta.usage.input == 37


@pytest.mark.parametrize("api", list(STREAMS))
def test_crlf_framing_and_comments_give_the_same_events(api: Api) -> None:
    data = STREAMS[api]
    crlf = b": keep-alive\r\n\r\n" + data.replace(b"\n", b"\r\n")
    whole = decode(api, [data])
    assert decode(api, [crlf]) == whole
    for cut in range(1, len(crlf), 7):
        assert decode(api, [crlf[:cut], crlf[cut:]]) == whole, cut


def test_bom_and_multiline_data() -> None:
    data = b"\xef\xbb\xbf" + CHAT_STREAM.replace(
        b'data: {"id"', b': comment\ndata: {"id"', 1
    ).replace(b'"object":"chat.completion.chunk",\n', b"")
    first = decode(Api.OPENAI_CHAT, [data[:1], data[1:2], data[2:]])
    assert first == decode(Api.OPENAI_CHAT, [CHAT_STREAM])
