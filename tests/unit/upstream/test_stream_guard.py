"""The stream guard's event check, fed at every byte split."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from plano.errors import UpstreamProtocolError
from plano.upstream.stream_guard import _checked, first_bad_event

GOOD = b'data: {"a": 1}\n\ndata: {"b": 2}\n\n: comment\n\ndata: [DONE]\n\n'
BAD = b'data: {"a": 1}\n\ndata: {"b": \n\ndata: {"c": 3}\n\n'


async def _source(parts: list[bytes]) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


def run(parts: list[bytes]) -> tuple[bytes, bool]:
    async def main() -> tuple[bytes, bool]:
        out = b""
        try:
            async for block in _checked(_source(parts)):
                out += block
        except UpstreamProtocolError:
            return out, True
        return out, False

    return asyncio.run(main())


def test_first_bad_event() -> None:
    assert first_bad_event(GOOD) == -1
    assert first_bad_event(BAD) == len(b'data: {"a": 1}\n\n')
    crlf = BAD.replace(b"\n", b"\r\n")
    assert first_bad_event(crlf) == len(b'data: {"a": 1}\r\n\r\n')
    assert first_bad_event(b'data: {"a":\ndata: 1}\n\n') == -1  # multi-line data joins


@pytest.mark.parametrize("cut", range(1, len(GOOD)))
def test_good_stream_passes_whole_at_every_split(cut: int) -> None:
    assert run([GOOD[:cut], GOOD[cut:]]) == (GOOD, False)


@pytest.mark.parametrize("cut", range(1, len(BAD)))
def test_bad_event_stops_after_the_whole_events_before_it(cut: int) -> None:
    out, failed = run([BAD[:cut], BAD[cut:]])
    assert failed
    assert out == b'data: {"a": 1}\n\n'


def test_stream_ending_inside_a_bad_event() -> None:
    assert run([b'data: {"a": 1}\n\ndata: {"b"']) == (b'data: {"a": 1}\n\n', True)
    assert run([b'data: {"a": 1}\n\ndata: {"b": 2}']) == (GOOD[:16] + b'data: {"b": 2}', False)
