"""Text deltas read as runs (`DeltaFrame.run`, `ir.TextRun`, the upstream's string literals
spliced into the client's events) give the client byte for byte what reading them one event at
a time gives: every upstream x client pair, any text and JSON escaping (escapes orjson would not
write, lone surrogates, invalid UTF-8, empty strings), whole, per event and at every byte split."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano import ir
from plano.translate import client_codec, upstream_codec
from plano.translate.collect import Collector
from plano.translate.sse_json import DeltaFrame
from plano.wire.api import Api
from tests.unit.translate.test_delta_frame import STREAMS


def _utf8(text: str) -> bytes:
    # orjson's escaping (UTF-8 as is, short escapes, \u00XX), lone surrogates as invalid UTF-8
    return json.dumps(text, ensure_ascii=False).encode("utf-8", "surrogatepass")


ESCAPES: dict[str, Callable[[str], bytes]] = {
    "orjson": _utf8,
    "ascii": lambda t: json.dumps(t).encode(),  # \uXXXX: not the bytes orjson writes
    "slash": lambda t: _utf8(t).replace(b"/", b"\\/"),  # `\/`: valid, not orjson's
    "spaced": lambda t: b" " + _utf8(t),  # whitespace before the string
}
CLIENTS = [Api.OPENAI_CHAT, Api.ANTHROPIC_MESSAGES, Api.OPENAI_RESPONSES]
_chars = st.characters(codec=None, categories=None)  # any code point, surrogates included
texts = st.lists(
    st.one_of(st.text(max_size=10), st.text(_chars, max_size=4), st.sampled_from(["", "/", "é"])),
    min_size=1,
    max_size=8,
)


def relay(upstream: Api, client: Api, pieces: list[bytes], runs: bool) -> bytes:
    """What the client receives when the upstream's bytes arrive as `pieces`."""
    up, down = upstream_codec(upstream), client_codec(client)
    assert up is not None and down is not None
    decoder = up.stream_decoder()
    decoder.runs = runs
    encoder = down.stream_encoder(ir.Request("m", stream=True, stream_usage=True))
    out = b""
    for events in [*(decoder.feed(piece) for piece in pieces), decoder.close()]:
        for ev in events:
            if isinstance(ev, ir.MessageStart):  # as the relay does; no clock, no random id
                ev.created, ev.id = 1, "resp_1"
        out += encoder.encode(events)
    return out


def chunkings(events: list[bytes], cuts: list[int]) -> list[list[bytes]]:
    data = b"".join(events)
    bounds = [0, *sorted({c % (len(data) + 1) for c in cuts}), len(data)]
    cut = [data[a:b] for a, b in itertools.pairwise(bounds)]
    return [[data], events, cut]


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(list(STREAMS)),
    st.sampled_from(CLIENTS),
    st.sampled_from(list(ESCAPES)),
    texts,
    st.lists(st.integers(min_value=0), max_size=6),
)
def test_runs_give_the_client_the_same_bytes(
    upstream: Api, client: Api, escape: str, words: list[str], cuts: list[int]
) -> None:
    events = STREAMS[upstream](words, ESCAPES[escape])
    for pieces in chunkings(events, cuts):
        assert relay(upstream, client, pieces, True) == relay(upstream, client, pieces, False)


@pytest.mark.parametrize("upstream", list(STREAMS))
def test_runs_at_every_byte_split(upstream: Api) -> None:
    words = ["one", 'two "quoted"', "thr\\ee\n", "", "fünf", "six/\u2028", "seven"]
    data = b"".join(STREAMS[upstream](words, orjson.dumps))
    for client in CLIENTS:
        whole = relay(upstream, client, [data], False)
        for at in range(len(data) + 1):
            pieces = [data[:at], data[at:]]
            assert relay(upstream, client, pieces, True) == whole, (client, at)


@pytest.mark.parametrize("upstream", list(STREAMS))
def test_a_run_carries_the_upstream_literals(upstream: Api) -> None:
    codec = upstream_codec(upstream)
    assert codec is not None

    def runs(escape: Callable[[str], bytes]) -> list[ir.TextRun]:
        decoder = codec.stream_decoder()
        decoder.runs = True
        stream = b"".join(STREAMS[upstream](["a", "b\n", "c/", "d", "é"], escape))
        return [ev for ev in decoder.feed(stream) if isinstance(ev, ir.TextRun)]

    # The first delta in the open text block teaches the frame (a chat stream's first text
    # chunk opens the block, so its second teaches); the run starts after it.
    skip = 2 if upstream is Api.OPENAI_CHAT else 1
    (run,) = runs(orjson.dumps)
    assert run.texts == ["a", "b\n", "c/", "d", "é"][skip:]
    assert run.literals == [b'"a"', b'"b\\n"', b'"c/"', b'"d"', '"é"'.encode()][skip:]
    (run,) = runs(ESCAPES["slash"])
    assert run.texts == ["a", "b\n", "c/", "d", "é"][skip:]
    assert run.literals is None  # `\/` is not orjson's: the encoder writes the texts


def test_a_run_needs_one_whole_json_string_per_event() -> None:
    frame = DeltaFrame.learn(b'{"n":1,"t":"a"}', b'"t":', "a")
    assert frame is not None

    def run(*literals: bytes) -> list[str] | None:
        got = frame.run([b'{"n":1,"t":' + lit + b"}" for lit in literals], 0)
        return None if got is None else got.texts

    assert run(b'"x"', b'"y"') == ["x", "y"]
    assert run(b'"x"') is None  # one event: read alone
    assert run(b'"x","a', b'b"') is None  # a string across two events
    assert run(b'"x"', b"1") is None
    assert run(b'"x"', b'["y"]') is None
    assert run(b'"x"', b'"\\ud800"') is None  # a lone surrogate
    assert run(b'"x"', b'"a\nb"') is None
    assert run(b'"x"', b'"\xff"') is None  # not UTF-8


def test_a_run_counter_may_change_but_must_be_digits() -> None:
    frame = DeltaFrame.learn(b'{"n":7,"t":"a"}', b'"t":', "a", b'"n":')
    assert frame is not None
    events = [b'{"n":8,"t":"x"}', b'{"n":123,"t":"y"}']
    got = frame.run(events, 0)
    assert got is not None and got.texts == ["x", "y"] and got.end == 2
    assert frame.run([events[0], b'{"n":-9,"t":"y"}'], 0) is None
    assert frame.run([events[0], b'{"n":,"t":"y"}'], 0) is None


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(list(STREAMS)), st.sampled_from(list(ESCAPES)), texts)
def test_a_folded_stream_is_the_same_with_runs(
    upstream: Api, escape: str, words: list[str]
) -> None:
    # A stream-only provider's answer to a non-streaming client is folded by the Collector.
    data = b"".join(STREAMS[upstream](words, ESCAPES[escape]))
    codec = upstream_codec(upstream)
    assert codec is not None

    def fold(runs: bool) -> ir.Response | ir.StreamError:
        decoder = codec.stream_decoder()
        decoder.runs = runs
        collector = Collector()
        collector.feed(decoder.feed(data))
        collector.feed(decoder.close())
        return collector.response() if collector.error is None else collector.error

    assert fold(True) == fold(False)
