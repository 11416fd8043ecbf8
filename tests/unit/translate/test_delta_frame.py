"""Text deltas decoded from their learned frame (`DeltaFrame`): the same IR events as the full
decoder, whatever the text, its JSON escaping, the byte split, or a chunk that changes shape."""

from __future__ import annotations

import json
from collections.abc import Callable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano import ir
from plano.translate import sse_json, upstream_codec
from plano.translate.sse_json import DeltaFrame, string_end
from plano.wire.api import Api
from tests.compiled_marks import patches

Dumps = Callable[[str], bytes]
ESCAPES: dict[str, Dumps] = {
    "orjson": orjson.dumps,  # UTF-8 as is
    "ascii": lambda t: json.dumps(t).encode(),  # every non-ASCII character as \uXXXX
}


def chat_stream(texts: list[str], dumps: Dumps) -> list[bytes]:
    head = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'

    def chunk(delta: bytes, finish: bytes = b"null") -> bytes:
        return head + b'[{"index":0,"delta":' + delta + b',"finish_reason":' + finish + b"}]}\n\n"

    out = [chunk(b'{"role":"assistant","content":""}')]
    out += [chunk(b'{"content":' + dumps(t) + b"}") for t in texts]
    return [*out, chunk(b"{}", b'"stop"'), b"data: [DONE]\n\n"]


def anthropic_stream(texts: list[str], dumps: Dumps) -> list[bytes]:
    def ev(kind: str, data: bytes) -> bytes:
        return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"

    start = b'{"type":"message_start","message":{"id":"msg_1","model":"c","usage":{}}}'
    out = [ev("message_start", start)]
    out.append(ev("content_block_start", b'{"type":"content_block_start","index":0,'
                  b'"content_block":{"type":"text","text":""}}'))  # fmt: skip
    for t in texts:
        delta = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":'
        out.append(ev("content_block_delta", delta + dumps(t) + b"}}"))
    out.append(ev("content_block_stop", b'{"type":"content_block_stop","index":0}'))
    out.append(ev("message_delta", b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},'
                  b'"usage":{"output_tokens":3}}'))  # fmt: skip
    return [*out, ev("message_stop", b'{"type":"message_stop"}')]


def responses_stream(texts: list[str], dumps: Dumps) -> list[bytes]:
    seq = iter(range(10_000))

    def ev(kind: str, fields: bytes) -> bytes:
        n = str(next(seq)).encode()
        data = b'{"type":"' + kind.encode() + b'","sequence_number":' + n + fields + b"}"
        return b"event: " + kind.encode() + b"\ndata: " + data + b"\n\n"

    item = b'"item_id":"msg_1","output_index":0,"content_index":0'
    out = [ev("response.created", b',"response":{"id":"resp_1","model":"g","created_at":1}')]
    out.append(ev("response.output_item.added", b',"output_index":0,'
                  b'"item":{"id":"msg_1","type":"message","content":[]}'))  # fmt: skip
    out.append(ev("response.content_part.added", b"," + item + b',"part":{"type":"output_text"}'))
    out += [ev("response.output_text.delta", b"," + item + b',"delta":' + dumps(t)) for t in texts]
    out.append(ev("response.content_part.done", b"," + item))
    out.append(ev("response.output_item.done", b',"output_index":0,"item":{"type":"message"}'))
    return [*out, ev("response.completed", b',"response":{"status":"completed"}')]


STREAMS = {
    Api.OPENAI_CHAT: chat_stream,
    Api.ANTHROPIC_MESSAGES: anthropic_stream,
    Api.OPENAI_RESPONSES: responses_stream,
}


def decode(api: Api, pieces: list[bytes], framed: bool = True) -> list[ir.Event]:
    """The decoder's events; `framed=False`: the full decoder for every chunk (no frame)."""
    codec = upstream_codec(api)
    assert codec is not None
    dec = codec.stream_decoder()
    if not framed:
        dec._frame = False  # type: ignore[attr-defined]
    out: list[ir.Event] = []
    for piece in pieces:
        out.extend(dec.feed(piece))
    return out + dec.close()


texts = st.lists(st.text(max_size=12), min_size=2, max_size=8)


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(list(STREAMS)), st.sampled_from(list(ESCAPES)), texts)
def test_event_per_chunk_matches_the_full_decoder(api: Api, escape: str, words: list[str]) -> None:
    events = STREAMS[api](words, ESCAPES[escape])
    whole = decode(api, [b"".join(events)])  # one chunk: never framed
    assert decode(api, events) == whole == decode(api, events, framed=False)
    deltas = [e.text for e in whole if isinstance(e, ir.TextDelta)]
    assert "".join(deltas) == "".join(words)


@pytest.mark.parametrize("api", list(STREAMS))
def test_every_byte_split_of_a_framed_chunk(api: Api) -> None:
    events = STREAMS[api](["one", 'two "quoted"', "thr\\ee\n", "four", "five"], orjson.dumps)
    whole = decode(api, [b"".join(events)])
    target = len(events) - 4  # a text delta after the frame was learned
    for cut in range(1, len(events[target])):
        left, right = events[target][:cut], events[target][cut:]
        pieces = [*events[:target], left, right, *events[target + 1 :]]
        assert decode(api, pieces) == whole, cut


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(list(STREAMS)), texts, st.data())
def test_a_chunk_of_another_shape_goes_through_the_full_decoder(
    api: Api, words: list[str], data: st.DataObject
) -> None:
    """An event changed after the frame was learned (a byte inserted anywhere, two events in
    one chunk) decodes as the full decoder reads it (its text, or a stream error)."""
    events = STREAMS[api](words, orjson.dumps)
    first = next(i for i, e in enumerate(events) if b'"content":' in e or b"_delta" in e)
    later = data.draw(st.integers(first + 1, len(events) - 2))
    where = data.draw(st.integers(0, len(events[later])))
    byte = data.draw(st.sampled_from([b" ", b"x", b'"', b"\\", b"1", b"\n", b","]))
    changed = [*events]
    changed[later] = events[later][:where] + byte + events[later][where:]
    assert decode(api, changed) == decode(api, changed, framed=False)
    joined = [*events[:later], events[later] + events[later + 1], *events[later + 2 :]]
    assert decode(api, joined) == decode(api, events)


@settings(max_examples=200, deadline=None)
@given(st.text(), st.text(), st.sampled_from(list(ESCAPES)))
def test_frame_reads_any_string_and_nothing_else(first: str, second: str, escape: str) -> None:
    dumps = ESCAPES[escape]
    event = b'data: {"a":1,"content":' + dumps(first) + b',"z":[true]}\n\n'
    frame = DeltaFrame.learn(event, b'"content":', first)
    assert frame is not None
    assert frame.text(b'data: {"a":1,"content":' + dumps(second) + b',"z":[true]}\n\n') == second
    assert frame.text(b'data: {"a":2,"content":' + dumps(second) + b',"z":[true]}\n\n') is None
    two = b'data: {"a":1,"content":' + dumps(second) + b',"z":[true]}\n\n'
    assert frame.text(event[:-2] + b"\n\n" + two) is None  # two events, one chunk


def test_learning_refuses_a_key_seen_twice_or_another_value() -> None:
    event = b'data: {"content":"a","x":{"content":"b"}}\n\n'
    assert DeltaFrame.learn(event, b'"content":', "a") is None
    assert DeltaFrame.learn(b'data: {"content":"a"}\n\n', b'"content":', "b") is None
    assert DeltaFrame.learn(b'data: {"content": "a"}\n\n', b'"content":', "a") is None


def test_a_counter_may_change_but_must_be_digits() -> None:
    event = b'{"n":7,"delta":"a"}'
    frame = DeltaFrame.learn(event, b'"delta":', "a", b'"n":')
    assert frame is not None
    assert frame.text(b'{"n":12345,"delta":"b"}') == "b"
    assert frame.text(b'{"n":-1,"delta":"b"}') is None
    assert frame.text(b'{"n":,"delta":"b"}') is None


@given(st.text(), st.binary(max_size=8))
def test_string_end_finds_the_closing_quote(text: str, after: bytes) -> None:
    for dumps in ESCAPES.values():
        literal = dumps(text)
        assert string_end(b"x" + literal + after, 1) == 1 + len(literal)
    assert string_end(b'x"unterminated\\"', 1) == -1


@patches(sse_json)
@pytest.mark.parametrize("api", list(STREAMS))
def test_the_frame_is_learned_and_used(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []
    text = DeltaFrame.text

    def counted(self: DeltaFrame, chunk: bytes) -> str | None:
        got = text(self, chunk)
        if got is not None:
            read.append(got)
        return got

    monkeypatch.setattr(DeltaFrame, "text", counted)
    decode(api, STREAMS[api](["a", "b", "c", "d"], orjson.dumps))
    # The first delta in the open text block is read in full and teaches the frame (a chat
    # stream's first text chunk opens the block, so its second teaches).
    assert read == (["c", "d"] if api is Api.OPENAI_CHAT else ["b", "c", "d"])
