"""The PII stream restorer at every split: whatever the chunking of a stream (characters of a
delta, bytes of the event stream), the text the client assembles equals the original text."""

from __future__ import annotations

import asyncio
import itertools

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.codec.sse_scan import SseSplitter
from plano.config.guards import PiiFilterConfig
from plano.filters.pii.filter import PiiFilter
from plano.filters.pii.response import SseRestorer
from plano.filters.pii.restore import StreamRestorer
from plano.filters.pii.session import Session, restore_text
from plano.filters.types import FilterContext
from tests.unit.filters.pii.streams import BUILDERS, streamed_text

ORIGINALS = {
    "<EMAIL_1>": "alice@example.com",
    "<EMAIL_12>": "bob@example.org",
    "<PHONE_1>": "+33 6 12 34 56 78",
    "<NAME_1>": "Zoë <Z> Martin",  # a value that itself looks like markup
}
FRAGMENTS = [
    *ORIGINALS,
    "<",
    ">",
    "<EMAIL_",
    "<EMAIL_1",
    "<PH",
    "_1>",
    "E",
    "1",
    "a",
    " ",
    "é",
    "\n",
]
TEXTS = st.lists(st.sampled_from(FRAGMENTS), max_size=30).map("".join)


def session() -> Session:
    s = Session()
    for placeholder, value in ORIGINALS.items():
        s.originals[placeholder] = value
    return s


def pieces_at(text: str, cuts: list[int]) -> list[str]:
    bounds = [0, *sorted({c % (len(text) + 1) for c in cuts}), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def restored(pieces: list[str]) -> str:
    r = StreamRestorer(session())
    return "".join(r.feed(0, p) for p in pieces) + r.flush(0)


@settings(max_examples=400, deadline=None)
@given(TEXTS, st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_any_split_of_the_text(text: str, cuts: list[int]) -> None:
    assert restored(pieces_at(text, cuts)) == restore_text(text, ORIGINALS)


@settings(max_examples=60, deadline=None)
@given(TEXTS)
def test_every_character_split(text: str) -> None:
    whole = restore_text(text, ORIGINALS)
    assert restored(list(text)) == whole
    for i in range(len(text) + 1):
        assert restored([text[:i], text[i:]]) == whole


def _through_bytes(dialect: str, pieces: list[str], cuts: list[int]) -> bytes:
    stream = b"".join(BUILDERS[dialect](pieces))
    bounds = [0, *sorted({c % (len(stream) + 1) for c in cuts}), len(stream)]
    split = SseSplitter()
    r = SseRestorer(session())
    out = [
        r.feed(block) for a, b in itertools.pairwise(bounds) if (block := split.feed(stream[a:b]))
    ]
    rest = split.close()
    return b"".join(out) + (r.feed(rest) if rest else b"")


@pytest.mark.parametrize("dialect", sorted(BUILDERS))
def test_every_byte_split_of_the_event_stream(dialect: str) -> None:
    text = "Mail <EMAIL_1> or <EMAIL_12>, call <PHONE_1>; <NAME_1> says 1<2 <EMAIL_"
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    whole = restore_text(text, ORIGINALS)
    size = len(b"".join(BUILDERS[dialect](pieces)))
    for cut in range(size + 1):
        assert streamed_text(dialect, _through_bytes(dialect, pieces, [cut])) == whole


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(sorted(BUILDERS)),
    TEXTS,
    st.lists(st.integers(min_value=0, max_value=400), max_size=8),
    st.lists(st.integers(min_value=0, max_value=4000), max_size=8),
)
def test_any_chunking_of_deltas_and_bytes(
    dialect: str, text: str, text_cuts: list[int], byte_cuts: list[int]
) -> None:
    pieces = pieces_at(text, text_cuts)
    out = _through_bytes(dialect, pieces, byte_cuts)
    assert streamed_text(dialect, out) == restore_text(text, ORIGINALS)


PII = st.sampled_from(
    [
        "alice@example.com",
        "+33 6 12 34 56 78",
        "4111 1111 1111 1111",
        "DE89 3704 0044 0532 0130 00",
        "10.0.0.1",
        "2001:db8::1",
        "sk-proj-abcdefghijklmnopqrstuvwx",
        "Alice Martin",
    ]
)
SEPARATORS = st.sampled_from([" ", ", ", ". ", " and ", "\n", " <", "> ", " (é) ", " 1 < 2 "])
# PII values between separators (values run together are one word, not several values)
MESSAGES = st.lists(st.tuples(SEPARATORS, PII), max_size=8).map(
    lambda pairs: "".join(sep + value for sep, value in pairs) + " end"
)


@settings(max_examples=150, deadline=None)
@given(MESSAGES, st.lists(st.integers(0, 400), max_size=10))
def test_round_trip_through_the_filter(original: str, cuts: list[int]) -> None:
    """Redacted on the way in, echoed back in arbitrary pieces, restored to the original."""
    config = PiiFilterConfig.model_validate({"id": "pii", "type": "pii", "names": ["Alice Martin"]})
    f = PiiFilter(config)
    ctx = FilterContext()
    body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": original}]})
    sent = orjson.loads(asyncio.run(f.apply(body, "/", [], ctx)))["messages"][0]["content"]
    for value in ("alice@example.com", "4111 1111 1111 1111", "Alice Martin"):
        assert value not in sent
    out = b"".join(
        asyncio.run(f.apply(ev, "/", [], ctx)) for ev in BUILDERS["chat"](pieces_at(sent, cuts))
    )
    assert streamed_text("chat", out) == original
