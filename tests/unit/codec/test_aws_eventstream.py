"""AWS event-stream codec: known frames, every byte split, corruption, bounded buffering."""

from __future__ import annotations

import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.codec.aws_eventstream import (
    EventStreamDecoder,
    EventStreamError,
    Frame,
    Timestamp,
    encode_frame,
)

# AWS's published "empty message" vector: prelude with lengths 16/0, then the two CRCs.
EMPTY = bytes.fromhex("00000010000000000" + "5c248eb7d98c8ff")


def decode_all(data: bytes, cuts: list[int]) -> list[Frame]:
    decoder = EventStreamDecoder()
    frames: list[Frame] = []
    last = 0
    for cut in sorted(cuts):
        frames += decoder.feed(data[last:cut])
        last = cut
    frames += decoder.feed(data[last:])
    assert decoder.pending == 0
    return frames


def test_empty_message_vector() -> None:
    assert encode_frame({}, b"") == EMPTY
    assert EventStreamDecoder().feed(EMPTY) == [Frame({}, b"")]


def test_bedrock_event_frame_headers_and_payload() -> None:
    frame = encode_frame(
        {
            ":event-type": "contentBlockDelta",
            ":content-type": "application/json",
            ":message-type": "event",
        },
        b'{"contentBlockIndex":0,"delta":{"text":"Hi"}}',
    )
    (got,) = EventStreamDecoder().feed(frame)
    assert got.header(":event-type") == "contentBlockDelta"
    assert got.header(":message-type") == "event"
    assert got.payload == b'{"contentBlockIndex":0,"delta":{"text":"Hi"}}'


def test_every_header_type_round_trips() -> None:
    uid = uuid.UUID("12345678-1234-5678-1234-567812345678")
    headers = {
        "t": True,
        "f": False,
        "i": -(2**40),
        "b": b"\x00\xff",
        "s": "héllo",
        "ts": Timestamp(1_700_000_000_000),
        "u": uid,
    }
    (got,) = EventStreamDecoder().feed(encode_frame(headers, b"x"))  # type: ignore[arg-type]
    assert got.headers == headers


def test_byte_by_byte_split() -> None:
    data = b"".join(encode_frame({":event-type": f"e{i}"}, b"p" * i) for i in range(5))
    decoder = EventStreamDecoder()
    frames = []
    for i in range(len(data)):
        frames += decoder.feed(data[i : i + 1])
    assert [f.payload for f in frames] == [b"p" * i for i in range(5)]


_headers = st.dictionaries(
    st.text(min_size=1, max_size=8),
    st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1), st.binary(max_size=20), st.text()),
    max_size=4,
)
_frames = st.lists(st.tuples(_headers, st.binary(max_size=200)), min_size=1, max_size=6)


@settings(max_examples=200, deadline=None)
@given(frames=_frames, data=st.data())
def test_any_frames_any_split(
    frames: list[tuple[dict[str, bool | int | bytes | str], bytes]], data: st.DataObject
) -> None:
    raw = b"".join(encode_frame(dict(h), p) for h, p in frames)
    cuts = data.draw(st.lists(st.integers(0, len(raw)), max_size=10))
    got = decode_all(raw, cuts)
    assert [(f.headers, f.payload) for f in got] == [(h, p) for h, p in frames]


@settings(max_examples=50, deadline=None)
@given(payload=st.binary(min_size=1, max_size=64))
def test_every_single_split_point(payload: bytes) -> None:
    raw = encode_frame({":event-type": "x"}, payload) + encode_frame({}, payload[::-1])
    for cut in range(len(raw) + 1):
        got = decode_all(raw, [cut])
        assert [f.payload for f in got] == [payload, payload[::-1]]


@settings(max_examples=100, deadline=None)
@given(payload=st.binary(max_size=40), flip=st.data())
def test_any_flipped_bit_is_detected(payload: bytes, flip: st.DataObject) -> None:
    raw = bytearray(encode_frame({":event-type": "chunk"}, payload))
    at = flip.draw(st.integers(0, len(raw) - 1))
    bit = flip.draw(st.integers(0, 7))
    raw[at] ^= 1 << bit
    decoder = EventStreamDecoder()
    try:
        frames = decoder.feed(bytes(raw))
    except EventStreamError:
        return
    # A flipped length bit can make the frame look longer: nothing decoded, bytes pending.
    assert frames == []
    assert decoder.pending > 0


def test_prelude_crc_error_message_and_decoder_stays_failed() -> None:
    raw = bytearray(encode_frame({}, b"hello"))
    raw[8] ^= 0xFF
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError, match="prelude CRC"):
        decoder.feed(bytes(raw))
    with pytest.raises(EventStreamError, match="already failed"):
        decoder.feed(encode_frame({}, b""))


def test_message_crc_error() -> None:
    raw = bytearray(encode_frame({}, b"hello"))
    raw[13] ^= 0x01
    with pytest.raises(EventStreamError, match="message CRC"):
        EventStreamDecoder().feed(bytes(raw))


def test_buffer_holds_only_the_frame_in_progress() -> None:
    big = encode_frame({}, b"a" * 100_000)
    decoder = EventStreamDecoder()
    frames = decoder.feed(big * 3 + big[:50])
    assert len(frames) == 3
    assert decoder.pending == 50  # only the partial fourth frame


def test_large_frame_has_no_size_cap() -> None:
    payload = b"z" * (20 * 1024 * 1024)  # beyond AWS's own 16 MiB message limit
    raw = encode_frame({":event-type": "big"}, payload)
    got = decode_all(raw, [7, 1000, len(raw) - 3])
    assert got[0].payload == payload
