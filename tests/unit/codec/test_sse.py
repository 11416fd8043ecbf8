"""SSE codec: WHATWG parsing at every byte split, raw-byte accounting, encoder round trips."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.codec.sse import DONE, SseDecoder, SseEvent, encode_event

# ---------------------------------------------------------------------------------------------
# A model of an event stream: blocks of lines, serialised with chosen line endings.


@dataclass(frozen=True)
class Line:
    kind: str  # data | event | id | retry | comment | unknown | bare_data
    value: str
    no_space: bool = False  # "data:x" instead of "data: x"


@dataclass(frozen=True)
class Stream:
    raw: bytes
    events: list[SseEvent]
    ends: list[int]  # offset just past the blank line that dispatched each event (excl. final)
    final_event: bool  # the last block has no blank line but has data: close() dispatches it


_text = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=12)
_multibyte = st.text(st.sampled_from("aé€𝄞中 :\x00"), max_size=8)
_value = st.one_of(_text, _multibyte)
_eol = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def lines(draw: st.DrawFn) -> Line:
    kind = draw(
        st.sampled_from(
            ["data", "data", "data", "event", "id", "retry", "comment", "unknown", "bare_data"]
        )
    )
    if kind == "retry":
        return Line(kind, draw(st.sampled_from(["0", "1500", "x1", ""])))
    value = draw(_value)
    if kind == "id":
        value = value.replace("\x00", "")
    no_space = draw(st.booleans()) and not value.startswith(" ")
    return Line(kind, value, no_space)


def _render(line: Line) -> str:
    if line.kind == "comment":
        return ":" + line.value
    if line.kind == "bare_data":
        return "data"
    name = "x-unknown" if line.kind == "unknown" else line.kind
    return name + (":" if line.no_space else ": ") + line.value


def _expected(block: list[Line]) -> SseEvent | None:
    data: list[str] = []
    event = ident = None
    retry = None
    for line in block:
        if line.kind == "data":
            data.append(line.value)
        elif line.kind == "bare_data":
            data.append("")
        elif line.kind == "event":
            event = line.value
        elif line.kind == "id":
            ident = line.value
        elif line.kind == "retry" and line.value.isdigit():
            retry = int(line.value)
    return SseEvent(event, "\n".join(data), ident, retry) if data else None


@st.composite
def streams(draw: st.DrawFn) -> Stream:
    blocks = draw(st.lists(st.lists(lines(), max_size=5), min_size=1, max_size=5))
    unterminated = draw(st.sampled_from(["", "blank", "line"]))  # how the last block ends
    out = "\ufeff" if draw(st.booleans()) else ""
    prev_eol = ""
    events: list[SseEvent] = []
    ends: list[int] = []

    def emit(text: str) -> None:
        nonlocal out, prev_eol
        eol = draw(_eol)
        if text == "" and prev_eol == "\r" and eol == "\n":
            eol = "\r\n"  # "\r" + "\n" would be one line ending, not a blank line
        out += text + eol
        prev_eol = eol

    for i, block in enumerate(blocks):
        last = i == len(blocks) - 1
        for j, line in enumerate(block):
            if last and unterminated == "line" and j == len(block) - 1:
                out += _render(line)
            else:
                emit(_render(line))
        ev = _expected(block)
        if last and unterminated:
            if ev is not None:
                events.append(ev)
            return Stream(out.encode(), events, ends, ev is not None)
        emit("")
        if ev is not None:
            events.append(ev)
            ends.append(len(out.encode()))
    return Stream(out.encode(), events, ends, False)


def decode(chunks: list[bytes]) -> tuple[list[SseEvent], bytes]:
    """Decode chunks; check the raw invariant before close; return events and their raw bytes."""
    dec = SseDecoder()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(dec.feed(chunk))
    fed = b"".join(chunks)
    assert b"".join(e.raw for e in events) + dec.pending == fed
    events.extend(dec.close())
    return events, b"".join(e.raw for e in events)


def _check_raw(stream: Stream, events: list[SseEvent]) -> None:
    """Each raw ends at its blank line; a \\r\\n split across feeds may lend its \\n onwards."""
    offset = 0
    for ev, end in zip(events, stream.ends, strict=False):
        offset += len(ev.raw)
        lent = offset == end - 1 and stream.raw[end - 2 : end] == b"\r\n"
        assert offset == end or lent


def _split_at(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=150, deadline=None)
@given(streams())
def test_every_single_split_gives_same_events(stream: Stream) -> None:
    for cut in range(len(stream.raw) + 1):
        events, raw = decode([stream.raw[:cut], stream.raw[cut:]])
        assert events == stream.events, cut
        _check_raw(stream, events)
        assert raw == stream.raw if stream.final_event else stream.raw.startswith(raw)


@settings(max_examples=300, deadline=None)
@given(streams(), st.data())
def test_random_multi_splits(stream: Stream, data: st.DataObject) -> None:
    n = len(stream.raw)
    cuts = data.draw(st.lists(st.integers(0, n), max_size=max(1, n // 2)))
    events, _ = decode(_split_at(stream.raw, cuts))
    assert events == stream.events
    _check_raw(stream, events)


@settings(max_examples=100, deadline=None)
@given(streams())
def test_one_byte_feeds_and_whole_feed(stream: Stream) -> None:
    whole, raw = decode([stream.raw])
    assert whole == stream.events
    one, _ = decode([stream.raw[i : i + 1] for i in range(len(stream.raw))])
    assert one == stream.events
    # Whole-input feed: raws are exactly the blocks up to each dispatching blank line.
    offsets = [sum(len(e.raw) for e in whole[: i + 1]) for i in range(len(stream.ends))]
    assert offsets == stream.ends
    assert raw == stream.raw if stream.final_event else stream.raw.startswith(raw)


# ---------------------------------------------------------------------------------------------
# Encoder round trip.

_event_name = st.text(st.characters(codec="utf-8", exclude_characters="\r\n"), max_size=8)
_data = st.text(st.characters(codec="utf-8"), max_size=40)


@st.composite
def encoded_events(draw: st.DrawFn) -> tuple[bytes, list[SseEvent]]:
    specs = draw(
        st.lists(
            st.tuples(
                _data,
                st.none() | _event_name,
                st.none() | _event_name.map(lambda s: s.replace("\x00", "")),
                st.booleans(),
            ),
            max_size=6,
        )
    )
    out, expected = b"", []
    for data, event, ident, as_bytes in specs:
        out += encode_event(data.encode() if as_bytes else data, event=event, id=ident)
        expected.append(SseEvent(event, re.sub(r"\r\n|\r", "\n", data), ident))
    return out, expected


@settings(max_examples=200, deadline=None)
@given(encoded_events())
def test_encode_then_decode_at_every_split(case: tuple[bytes, list[SseEvent]]) -> None:
    raw, expected = case
    for cut in range(len(raw) + 1):
        events, got_raw = decode([raw[:cut], raw[cut:]])
        assert events == expected
        assert got_raw == raw  # no comments, LF only: raws reproduce the input


@settings(max_examples=100, deadline=None)
@given(encoded_events(), st.data())
def test_encode_then_decode_random_splits(
    case: tuple[bytes, list[SseEvent]], data: st.DataObject
) -> None:
    raw, expected = case
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=20))
    events, got_raw = decode(_split_at(raw, cuts))
    assert events == expected
    assert got_raw == raw


# ---------------------------------------------------------------------------------------------
# Examples.


def test_done_without_trailing_newline_flushed_by_close() -> None:
    dec = SseDecoder()
    assert dec.feed(b'data: {"a":1}\n\ndata: [DO') == [SseEvent(None, '{"a":1}')]
    assert dec.feed(b"NE]") == []
    (done,) = dec.close()
    assert done == SseEvent(None, "[DONE]")
    assert done.raw == b"data: [DONE]"
    assert dec.close() == []


def test_done_constant_round_trips() -> None:
    dec = SseDecoder()
    (ev,) = dec.feed(DONE)
    assert ev.data == "[DONE]"
    assert ev.raw == DONE


def test_split_inside_utf8_character_and_field_name() -> None:
    raw = "event: grüß\ndata: 𝄞 clef\n\n".encode()
    clef = raw.index("𝄞".encode())
    for cut in (2, 5, clef + 1, clef + 2, clef + 3):
        dec = SseDecoder()
        assert dec.feed(raw[:cut]) == []
        assert dec.feed(raw[cut:]) == [SseEvent("grüß", "𝄞 clef")]


def test_crlf_split_across_feeds_lends_lf_to_next_raw() -> None:
    dec = SseDecoder()
    (first,) = dec.feed(b"data: a\r\n\r")
    assert first.raw == b"data: a\r\n\r"
    (second,) = dec.feed(b"\ndata: b\r\n\r\n")
    assert second == SseEvent(None, "b")
    assert second.raw == b"\ndata: b\r\n\r\n"


def test_cr_only_stream_dispatches_without_waiting() -> None:
    dec = SseDecoder()
    assert dec.feed(b"data: a\rdata: b\r\r") == [SseEvent(None, "a\nb")]


def test_comments_and_dataless_blocks_go_into_next_raw() -> None:
    stream = b": keep-alive\n\nevent: ping\n\n: note\ndata: x\n\n"
    dec = SseDecoder()
    (ev,) = dec.feed(stream)
    assert ev == SseEvent(None, "x")  # the "ping" type belonged to a block without data
    assert ev.raw == stream


def test_field_parsing_rules() -> None:
    dec = SseDecoder()
    events = dec.feed(
        b"data\ndata:  two spaces\nid: 7\nretry: 3000\nretry: soon\nfoo: bar\n\n"
        b"id: a\x00b\ndata:x\n\n"
    )
    assert events == [SseEvent(None, "\n two spaces", "7", 3000), SseEvent(None, "x")]
    assert dec.last_event_id == "7"
    assert dec.reconnection_time == 3000


def test_bom_stripped_only_at_stream_start() -> None:
    dec = SseDecoder()
    assert dec.feed(b"\xef\xbb") == []
    (ev,) = dec.feed(b"\xbfdata: a\n\n")
    assert ev == SseEvent(None, "a")
    assert ev.raw == b"\xef\xbb\xbfdata: a\n\n"
    # Later, "\ufeffdata" is just an unknown field name: ignored, nothing dispatched.
    assert dec.feed(b"\xef\xbb\xbfdata: b\n\n") == []


def test_invalid_utf8_replaced() -> None:
    (ev,) = SseDecoder().feed(b"data: \xff\xfe\n\n")
    assert ev.data == "\ufffd\ufffd"


def test_close_drops_unterminated_block_without_data() -> None:
    dec = SseDecoder()
    dec.feed(b"event: x\n: comment")
    assert dec.close() == []
    assert dec.pending == b""


def test_one_megabyte_in_one_byte_chunks_is_linear() -> None:
    # A single 1 MiB event and then many small ones, one byte per feed: quadratic rescanning
    # would take minutes; the scan offset keeps it to about a second. (No timing assertion.)
    big = b"data: " + b"x" * (1 << 20) + b"\n\n"
    dec = SseDecoder()
    view = memoryview(big)
    events = [ev for i in range(len(big)) for ev in dec.feed(view[i : i + 1])]
    assert len(events) == 1
    assert len(events[0].data) == 1 << 20
    assert events[0].raw == big


def test_encode_event_shapes() -> None:
    assert encode_event("hi") == b"data: hi\n\n"
    assert encode_event(b'{"a":1}', event="delta") == b'event: delta\ndata: {"a":1}\n\n'
    assert encode_event("a\r\nb\rc\n", id="9", retry=10) == (
        b"id: 9\nretry: 10\ndata: a\ndata: b\ndata: c\ndata: \n\n"
    )
    assert encode_event("") == b"data: \n\n"


@pytest.mark.parametrize(
    "kwargs", [{"event": "a\nb"}, {"id": "x\ry"}, {"id": "nul\x00"}, {"event": "a\rb"}]
)
def test_encode_event_rejects_unencodable_fields(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        encode_event("x", **kwargs)
