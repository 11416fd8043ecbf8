"""The SSE event-boundary scanner against a line-by-line model, at every byte split."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from plano.codec.sse import SseDecoder
from plano.codec.sse_scan import (
    BOM,
    SseSplitter,
    block_data,
    event_data,
    last_boundary,
    split_events,
)

# ---------------------------------------------------------------------------------------------
# The model: walk the stream line by line as WHATWG does; every blank line ends an event.


def model(data: bytes) -> tuple[list[bytes], list[tuple[int, int]]]:
    """The events of ``data`` (a final part without its blank line last) and, per blank line,
    ``(start, end)`` offsets. A final ``\\r`` counts as a whole line ending (end of stream)."""
    events: list[bytes] = []
    blanks: list[tuple[int, int]] = []
    start = i = 0
    n = len(data)
    while i < n:  # i is at a line start
        j = i
        while j < n and data[j] not in b"\r\n":
            j += 1
        if j == n:
            break
        end = j + 2 if data[j : j + 2] == b"\r\n" else j + 1
        if j == i:
            blanks.append((i, end))
            events.append(data[start:end])
            start = end
        i = end
    if start < n:
        events.append(data[start:])
    return events, blanks


def expected_last_boundary(data: bytes, eager_cr: bool) -> int:
    _, blanks = model(data)
    ends = [
        end
        for start, end in blanks
        if start > 0 and (eager_cr or end < len(data) or not data.endswith(b"\r"))
    ]
    return max(ends, default=0)


def splitter_events(chunks: list[bytes], **kw: bool) -> tuple[list[bytes], list[bytes]]:
    """Feed ``chunks``; return the blocks (and the close() rest last) and their single events."""
    split = SseSplitter(**kw)
    blocks = [split.feed(c) for c in chunks]
    blocks.append(split.close())
    assert split.pending == b""
    return blocks, [e for b in blocks for e in split_events(b)]


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# Streams from pieces that make every line-ending style and their mixtures, comments, blank
# lines in a row, `data` lines with and without a space, fields without a colon.
_piece = st.sampled_from(
    [
        *(b"\n", b"\r", b"\r\n", b"\n\n", b"\r\r", b"\r\n\r\n", b"data: x", b"data:y", b"data"),
        *(b": c", b"event: e", b"id: 1", b"a", b" ", b":", b"\xc3\xa9"),
    ]
)
streams = st.lists(_piece, max_size=24).map(b"".join)


# ---------------------------------------------------------------------------------------------
# The primitives.


@settings(max_examples=500)
@given(streams, st.booleans())
def test_last_boundary_is_the_end_of_the_last_blank_line(data: bytes, eager_cr: bool) -> None:
    assert last_boundary(data, eager_cr) == expected_last_boundary(data, eager_cr)


@settings(max_examples=500)
@given(streams)
def test_split_events_follows_the_model(data: bytes) -> None:
    events = split_events(data)
    assert events == model(data)[0]
    assert b"".join(events) == data


@settings(max_examples=500)
@given(streams)
def test_block_data_is_event_data_of_each_event(data: bytes) -> None:
    expected = [d for e in split_events(data) if (d := event_data(e)) is not None]
    assert block_data(data) == expected


def test_line_ending_styles_and_mixtures() -> None:
    for sep in (b"\n\n", b"\r\n\r\n", b"\r\r", b"\n\r\n", b"\r\n\n", b"\r\r\n", b"\n\r"):
        data = b"data: a" + sep + b"data: b" + sep
        assert last_boundary(data, True) == len(data), sep
        assert split_events(data) == [b"data: a" + sep, b"data: b" + sep], sep
        assert block_data(data) == [b"a", b"b"], sep
    assert last_boundary(b"data: a\r\n") == 0  # one line ending is no blank line
    assert last_boundary(b"data: a\r\n\r") == 0  # the final \r may become \r\n: wait
    assert last_boundary(b"data: a\r\n\r", eager_cr=True) == 10
    assert last_boundary(b"\n\ndata: a") == 2  # `\n` then a blank line
    assert last_boundary(b"\ndata: a") == 0  # a blank line at data[0] is not reported
    assert split_events(b"\n\r\n\rdata: a\r") == [b"\n", b"\r\n", b"\r", b"data: a\r"]


def test_event_data_rules() -> None:
    assert event_data(b"data: {}\n\n") == b"{}"
    assert event_data(b'event: x\r\ndata: {"a":\r\ndata:1}\r\n\r\n') == b'{"a":\n1}'
    assert event_data(b"data\ndata:  two\n\n") == b"\n two"  # one space dropped, bare `data`
    assert event_data(b": comment\nevent: ping\n\n") is None
    assert event_data(b"datax: 1\ndata: 2\n\n") == b"2"  # not a data field
    assert event_data(b"\n") is None
    assert block_data(b"event: data\ndata: 1\n\n") == [b"1"]  # not the one-line fast path


# ---------------------------------------------------------------------------------------------
# The splitter at every byte split and in random multi-splits: the same blocks' events as one
# whole feed, and the model's.


@settings(max_examples=200, deadline=None)
@given(streams)
def test_splitter_every_single_split(data: bytes) -> None:
    _, whole = splitter_events([data])
    assert whole == model(data)[0]
    boundaries = {end for _, end in model(data)[1]} | {0}
    for at in range(len(data) + 1):
        blocks, events = splitter_events([data[:at], data[at:]])
        assert events == whole, at
        assert b"".join(blocks) == data
        assert blocks[0] == data[: len(blocks[0])] and len(blocks[0]) in boundaries, at


@settings(max_examples=300, deadline=None)
@given(streams, st.lists(st.integers(min_value=0), max_size=30))
def test_splitter_random_multi_splits(data: bytes, cuts: list[int]) -> None:
    blocks, events = splitter_events(cut(data, cuts))
    assert events == model(data)[0]
    assert b"".join(blocks) == data


@settings(max_examples=100, deadline=None)
@given(streams)
def test_splitter_one_byte_chunks(data: bytes) -> None:
    _, events = splitter_events([data[i : i + 1] for i in range(len(data))])
    assert events == model(data)[0]


def test_crlf_split_across_chunks_is_held() -> None:
    split = SseSplitter()
    assert split.feed(b"data: a\r\n\r") == b""  # the \r may be half of \r\n
    assert split.feed(b"\ndata: b\r\n\r") == b"data: a\r\n\r\n"
    assert split.feed(b"\n") == b"data: b\r\n\r\n"
    assert split.feed(b"data: c\r\r") == b""
    assert split.feed(b"data: d") == b"data: c\r\r"  # no \n came: the \r\r was the end
    assert split.close() == b"data: d"
    assert split.feed(b"data: e\n") == b""
    assert split.feed(b"\n") == b"data: e\n\n"  # a \n\n split across chunks


@settings(max_examples=200, deadline=None)
@given(streams, st.lists(st.integers(min_value=0), max_size=12))
def test_eager_splitter_lends_only_the_lf_of_a_split_crlf(data: bytes, cuts: list[int]) -> None:
    blocks, events = splitter_events(cut(data, cuts), eager_cr=True)
    assert b"".join(blocks) == data
    # Each block ends at a blank line's end, or at its \r when the \n is in the next chunk.
    ends = {end for _, end in model(data)[1]} | {end - 1 for _, end in model(data)[1]} | {0}
    assert all(len(b"".join(blocks[: i + 1])) in ends for i in range(len(blocks) - 1))
    # The lent \n reads as an empty line: the events' data are the same.
    assert [event_data(e) for e in events if event_data(e) is not None] == [
        event_data(e) for e in model(data)[0] if event_data(e) is not None
    ]
    assert splitter_events([data], eager_cr=True)[1] == model(data)[0]


@settings(max_examples=100, deadline=None)
@given(streams)
def test_strip_bom_at_every_split(data: bytes) -> None:
    stream = BOM + data
    for k in range(len(stream) + 1):
        blocks, events = splitter_events([stream[:k], stream[k:]], strip_bom=True)
        assert b"".join(blocks) == data
        assert events == model(data)[0]
    blocks, _ = splitter_events([b"\xef\xbb", b"X" + data], strip_bom=True)
    assert b"".join(blocks) == b"\xef\xbbX" + data  # not a BOM: kept


@settings(max_examples=300, deadline=None)
@given(streams)
def test_event_data_agrees_with_the_decoder(data: bytes) -> None:
    dec = SseDecoder()
    decoded = [e.data for e in [*dec.feed(data), *dec.close()]]
    scanned = [d.decode() for e in split_events(data) if (d := event_data(e)) is not None]
    assert scanned == decoded


def test_large_event_in_small_chunks_is_linear() -> None:
    # 1 MiB in 1-byte chunks: re-joining the held bytes per chunk would copy ~512 GiB in total.
    big = b"data: " + b"x" * (1 << 20) + b"\r\n\r\n"
    split = SseSplitter()
    out = [block for i in range(len(big)) if (block := split.feed(big[i : i + 1]))]
    assert out == [big]
    assert split.pending_size == 0


@settings(max_examples=500)
@given(streams)
def test_event_data_of_an_event_without_its_blank_line(data: bytes) -> None:
    # JsonSse.events hands over the usual events without their blank line: same payload.
    for event in split_events(data):
        if event.endswith(b"\n\n") and event.find(b"\r") < 0:
            assert event_data(event[:-2]) == event_data(event), event
