"""The request parser path under arbitrary input: whatever the bytes and however they are split
into reads, the connection answers with well-formed responses (never a 500) and closes, or just
closes. Driven through a fake transport with short timeouts, so an incomplete request ends too."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.http.cycle import error_response
from tests.unit.http.lean_harness import Receive, Scope, Send, fake_connection
from tests.unit.http.test_hygiene import FRAMING

T = TypeVar("T")
SHORT = {"keep_alive_timeout": 0.05, "header_timeout": 0.05, "body_timeout": 0.05}
# What the app answers (no body, so no response needs the request to be framed), and what the
# connection may say by itself.
_ANSWER = re.compile(rb"HTTP/1\.1 204 No Content\r\n(?:connection: (?:close|keep-alive)\r\n)?\r\n")
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_OWN = {error_response(s): s for s in (400, 408, 414, 431, 501)}

VALID = (
    b"GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"
    b"POST /b HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
    b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    b"PUT /d HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def no_content(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the body; returns without a response once the client is gone (as the gateway
    does), else answers 204."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        if not message["more_body"]:
            break
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def exchange(pieces: Sequence[bytes]) -> bytes:
    conn, transport = fake_connection(no_content, **SHORT)
    for piece in pieces:
        if transport.closing:
            break
        conn.data_received(piece)
        await asyncio.sleep(0)
    await asyncio.wait_for(transport.closed.wait(), 10)
    return bytes(transport.out)


def statuses(out: bytes) -> list[int]:
    """The statuses of `out`, asserting it is answers, then at most one own error, then nothing."""
    found: list[int] = []
    at = 0
    while at < len(out):
        if out.startswith(_CONTINUE, at):
            at += len(_CONTINUE)
            found.append(100)
            continue
        match = _ANSWER.match(out, at)
        if match is not None:
            at = match.end()
            found.append(204)
            continue
        rest = out[at:]
        assert rest in _OWN, rest[:300]
        found.append(_OWN[rest])
        break
    assert 500 not in found
    return found


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def test_the_valid_pipeline_is_answered_then_the_idle_connection_closes() -> None:
    assert statuses(run(exchange([VALID]))) == [204, 204, 204, 204]  # 100: body already in


def test_every_framing_error_split_at_every_byte() -> None:
    async def all_splits() -> list[tuple[int, int]]:
        wrong = []
        for n, (data, status) in enumerate(FRAMING):
            whole = b"GET / HTTP/1.1\r\n\r\n" + data
            for i in range(len(whole) + 1):
                out = await exchange(split(whole, [i]))
                if statuses(out) != [204, status]:
                    wrong.append((n, i))
        return wrong

    assert run(all_splits()) == []


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(min_value=0, max_value=300), max_size=6))
def test_any_bytes_any_split(data: bytes, cuts: list[int]) -> None:
    statuses(run(exchange(split(data, [c for c in cuts if c <= len(data)]))))


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=len(VALID) - 1), st.binary(max_size=4)),
        min_size=1,
        max_size=4,
    ),
    st.lists(st.integers(min_value=0, max_value=len(VALID)), max_size=6),
)
def test_a_mutated_pipeline_any_split(edits: list[tuple[int, bytes]], cuts: list[int]) -> None:
    data = VALID
    for at, replacement in edits:  # replace one byte with zero to four others
        data = data[:at] + replacement + data[at + 1 :]
    statuses(run(exchange(split(data, [c for c in cuts if c <= len(data)]))))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(FRAMING), st.lists(st.integers(min_value=0, max_value=120), max_size=8))
def test_framing_errors_split_anywhere(case: tuple[bytes, int], cuts: list[int]) -> None:
    data, status = case
    pieces = split(data, [c for c in cuts if c <= len(data)])
    assert statuses(run(exchange(pieces))) == [status]
