"""The scanner's consumers give the same results under every chunking and line-ending style:
the passthrough usage scan, the stream guard's event check, and the JSON-over-SSE decoder."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.codec.sse_scan import SseSplitter, split_events
from plano.errors import UpstreamProtocolError
from plano.observability.usage import StreamUsage
from plano.translate.sse_json import JsonSse
from plano.upstream.stream_guard import _checked
from plano.wire.usage import Usage

Block = list[bytes]  # the lines of one event, without line endings

_eols = st.lists(st.sampled_from([b"\n", b"\r\n", b"\r"]), min_size=1, max_size=8)


def frame(blocks: list[Block], eols: list[bytes]) -> tuple[bytes, list[int]]:
    """Serialise ``blocks`` with the line endings ``eols`` (cycled); return the bytes and the
    offset where each block starts. A ``\\r`` then a blank line's ``\\n`` would be one line
    ending, so the blank line takes ``\\r\\n`` there."""
    out = b""
    starts: list[int] = []
    pick = itertools.cycle(eols)
    for block in blocks:
        starts.append(len(out))
        eol = b""
        for line in block:
            eol = next(pick)
            out += line + eol
        blank = next(pick)
        out += b"\r\n" if eol == b"\r" and blank == b"\n" else blank
    return out, starts


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def every_split(data: bytes) -> list[list[bytes]]:
    return [[data[:at], data[at:]] for at in range(len(data) + 1)]


def _data(doc: Any) -> bytes:
    return b"data: " + orjson.dumps(doc)


OPENAI: list[Block] = [
    [_data({"choices": [{"delta": {"content": f"w{i}"}}], "usage": None})] for i in range(3)
]
OPENAI += [
    [b": keep-alive"],
    [_data({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}})],
    [b"data: [DONE]"],
]
ANTHROPIC: list[Block] = [
    [b"event: message_start", _data({"type": "message_start", "message": {"usage": {}}})],
    [b"event: ping", b'data: {"type": "ping"}'],
    [b"event: message_delta", _data({"type": "message_delta", "usage": {"output_tokens": 9}})],
    [b"event: message_stop", _data({"type": "message_stop"})],
]
ANTHROPIC[0][1] = _data(
    {"type": "message_start", "message": {"usage": {"input_tokens": 4, "output_tokens": 1}}}
)
MULTILINE: list[Block] = [[b"id: 1", b'data: {"a":', b"data: [1,", b"data:2]}"], [b"data: [DONE]"]]


def usage_of(chunks: list[bytes]) -> Usage | None:
    scan = StreamUsage()
    for chunk in chunks:
        scan.feed(chunk)
    return scan.usage


@settings(max_examples=30, deadline=None)
@given(_eols)
def test_usage_scan_at_every_split(eols: list[bytes]) -> None:
    # The usage event is never the last one, so it completes before the stream ends.
    for blocks, expected in ((OPENAI, Usage(7, 3, None)), (ANTHROPIC, Usage(4, 9, None))):
        data, _ = frame(blocks, eols)
        for chunks in every_split(data):
            assert usage_of(chunks) == expected, chunks


@settings(max_examples=100, deadline=None)
@given(_eols, st.lists(st.integers(min_value=0), max_size=30))
def test_usage_scan_random_multi_splits(eols: list[bytes], cuts: list[int]) -> None:
    data, _ = frame(OPENAI, eols)
    assert usage_of(chunked(data, cuts)) == Usage(7, 3, None)


# ---------------------------------------------------------------------------------------------
# The guard, driven without an event loop (its source never waits).


def guard(chunks: list[bytes]) -> tuple[bytes, bool]:
    async def source() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk

    stream = _checked(source())
    out = b""
    while True:
        step = stream.__anext__()
        try:
            step.send(None)
        except StopIteration as got:
            out += got.value
            continue
        except StopAsyncIteration:
            return out, False
        except UpstreamProtocolError:
            return out, True
        raise AssertionError("the guard waited on a source that never waits")


@settings(max_examples=30, deadline=None)
@given(_eols)
def test_guard_passes_good_streams_whole_at_every_split(eols: list[bytes]) -> None:
    for blocks in (OPENAI, ANTHROPIC, MULTILINE):
        data, _ = frame(blocks, eols)
        for chunks in every_split(data):
            assert guard(chunks) == (data, False), chunks


@settings(max_examples=30, deadline=None)
@given(_eols, st.integers(min_value=0, max_value=len(OPENAI) - 1))
def test_guard_stops_before_a_bad_event_at_every_split(eols: list[bytes], at: int) -> None:
    blocks = [*OPENAI[:at], [b"event: x", b'data: {"half":'], *OPENAI[at:]]
    data, starts = frame(blocks, eols)
    for chunks in every_split(data):
        assert guard(chunks) == (data[: starts[at]], True), chunks


@settings(max_examples=100, deadline=None)
@given(_eols, st.lists(st.integers(min_value=0), max_size=30))
def test_guard_random_multi_splits(eols: list[bytes], cuts: list[int]) -> None:
    data, _ = frame(ANTHROPIC + MULTILINE, eols)
    assert guard(chunked(data, cuts)) == (data, False)


# ---------------------------------------------------------------------------------------------
# JSON events over SSE.


def json_events(chunks: list[bytes]) -> list[Any]:
    sse = JsonSse()
    out = [doc for chunk in chunks for doc in sse.feed(chunk)]
    return out + sse.close()


def docs(blocks: list[Block]) -> list[Any]:
    out = []
    for block in blocks:
        data = [
            line.partition(b":")[2].removeprefix(b" ") for line in block if line[:5] == b"data:"
        ]
        if data:
            joined = b"\n".join(data)
            out.append(None if joined == b"[DONE]" else orjson.loads(joined))
    return out


@settings(max_examples=30, deadline=None)
@given(_eols, st.booleans())
def test_json_sse_at_every_split(eols: list[bytes], bom: bool) -> None:
    for blocks in (OPENAI, ANTHROPIC, MULTILINE):
        data, _ = frame(blocks, eols)
        data = b"\xef\xbb\xbf" + data if bom else data
        for chunks in every_split(data):
            assert json_events(chunks) == docs(blocks), chunks


@settings(max_examples=100, deadline=None)
@given(_eols, st.lists(st.integers(min_value=0), max_size=30))
def test_json_sse_random_multi_splits(eols: list[bytes], cuts: list[int]) -> None:
    blocks = ANTHROPIC + MULTILINE
    data, _ = frame(blocks, eols)
    assert json_events(chunked(data, cuts)) == docs(blocks)


def test_json_sse_final_event_without_blank_line() -> None:
    assert json_events([b'data: {"a": 1}\r\rdata: [DONE]']) == [{"a": 1}, None]
    assert json_events([b'data: {"a": 1}\r', b"\r"]) == [{"a": 1}]


# Blocks with blank lines in a row, bytes below `\n`, `\r`, events without data.
_piece = st.sampled_from(
    [b"\n", b"\n\n", b"\n\n\n", b"\r", b"\r\n", b"data: x", b"event: e", b"\t", b"\x00", b"a"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_piece, max_size=24).map(b"".join))
def test_json_sse_events_are_the_scanner_events(data: bytes) -> None:
    # The usual block is cut with one split and its events come without their blank line;
    # any other block is cut by the scanner: the same events either way.
    block = SseSplitter(strip_bom=True).feed(data)
    got, want = JsonSse().events(data), split_events(block)
    if got != want:
        assert got == [event[:-2] for event in want], (got, want)
        assert all(event.endswith(b"\n\n") for event in want)


def test_json_sse_events_of_the_usual_block_come_from_one_split() -> None:
    block = b"event: a\ndata: 1\n\ndata: 2\n\ndata: [DONE]\n\n"
    assert JsonSse().events(block) == [b"event: a\ndata: 1", b"data: 2", b"data: [DONE]"]
    assert JsonSse().events(b"data: 1\n\n\ndata: 2\n\n") == [b"data: 1\n\n", b"\n", b"data: 2\n\n"]
