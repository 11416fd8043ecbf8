"""One `HttpConnection` fed by hand through a fake transport: the bytes of every read are ours,
so parsing across read boundaries and read flow control are checked deterministically."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar

import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.http.cycle import error_response
from tests.unit.http.lean_harness import (
    Receive,
    Scope,
    Send,
    echo,
    fake_connection,
    ok,
    send_text,
)

T = TypeVar("T")
PIPELINE = (
    b"GET /one?x=1 HTTP/1.1\r\nHost: a\r\n\r\n"
    b"POST /two HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello"
    b"POST /three HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"
    b"HEAD /four HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n"
    b"GET /five HTTP/1.1\r\nConnection: close\r\n\r\n"
)
ANSWERS = (
    ok(b"GET /one x=1|")
    + ok(b"POST /two |hello")
    + ok(b"POST /three |abcde")
    + ok(b"HEAD /four |")[: -len(b"HEAD /four |")]
    + ok(b"GET /five |", b"connection: close\r\n")
)


def run(coro: Coroutine[Any, Any, T]) -> T:
    loop = uvloop.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


async def exchange(pieces: Sequence[bytes]) -> bytes:
    """Feed `pieces` as separate reads, letting the app tasks run in between."""
    conn, transport = fake_connection(echo)
    for piece in pieces:
        conn.data_received(piece)
        await asyncio.sleep(0)
    await asyncio.wait_for(transport.closed.wait(), 10)
    return bytes(transport.out)


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def test_pipeline_in_one_read() -> None:
    assert run(exchange([PIPELINE])) == ANSWERS


def test_pipeline_split_at_every_byte() -> None:
    async def all_splits() -> list[int]:
        return [
            i for i in range(1, len(PIPELINE)) if await exchange(split(PIPELINE, [i])) != ANSWERS
        ]

    assert run(all_splits()) == []


def test_pipeline_one_byte_per_read() -> None:
    assert run(exchange([PIPELINE[i : i + 1] for i in range(len(PIPELINE))])) == ANSWERS


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(PIPELINE)), max_size=12))
def test_pipeline_split_anywhere(cuts: list[int]) -> None:
    assert run(exchange(split(PIPELINE, cuts))) == ANSWERS


def test_unconsumed_body_pauses_reading_until_the_app_reads() -> None:
    async def scenario() -> list[int]:
        gate = asyncio.Event()
        sizes: list[int] = []

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await gate.wait()
            while True:
                message = await receive()
                sizes.append(len(message["body"]))
                if not message["more_body"]:
                    break
            await send_text(send, b"%d" % sum(sizes))

        conn, transport = fake_connection(app)
        piece = b"z" * 32768
        conn.data_received(
            b"PUT /u HTTP/1.1\r\nContent-Length: 262144\r\nConnection: close\r\n\r\n"
        )
        conn.data_received(piece)
        conn.data_received(piece)
        assert transport.reading  # 64 KiB buffered: not above the mark yet
        conn.data_received(piece)
        assert not transport.reading  # 96 KiB unconsumed: paused
        gate.set()
        await transport.resumed.wait()  # the app took the buffered body
        for _ in range(5):
            conn.data_received(piece)
        await transport.closed.wait()
        assert bytes(transport.out) == ok(b"262144", b"connection: close\r\n")
        return sizes

    sizes = run(scenario())
    assert sizes[0] == 3 * 32768
    assert sum(sizes) == 262144


def test_too_many_queued_requests_pause_reading() -> None:
    async def scenario() -> None:
        gate = asyncio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await gate.wait()
            await echo(scope, receive, send)

        conn, transport = fake_connection(app)
        conn.data_received(b"GET /0 HTTP/1.1\r\n\r\n" * 8)
        assert transport.reading  # one running, seven queued
        conn.data_received(
            b"GET /0 HTTP/1.1\r\n\r\n" + b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n"
        )
        assert not transport.reading
        gate.set()
        await transport.resumed.wait()
        await transport.closed.wait()
        expected = ok(b"GET /0 |") * 9 + ok(b"GET /x |", b"connection: close\r\n")
        assert bytes(transport.out) == expected

    run(scenario())


def test_a_head_that_never_ends_is_refused() -> None:
    async def scenario() -> None:
        conn, transport = fake_connection(echo)
        conn.data_received(b"GET / HTTP/1.1\r\nCookie: ")
        for _ in range(100):
            conn.data_received(b"c" * 1024)  # no end of line, ever
            if transport.closing:
                break
        await transport.closed.wait()
        assert bytes(transport.out) == error_response(431)

    run(scenario())


def test_a_bad_body_after_an_early_response_closes_the_connection() -> None:
    async def scenario() -> None:
        async def early(scope: Scope, receive: Receive, send: Send) -> None:
            await send_text(send, b"early")

        conn, transport = fake_connection(early)
        conn.data_received(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        assert conn.task is not None
        await conn.task  # the app answers and returns; the body is still arriving
        assert bytes(transport.out) == ok(b"early")
        conn.data_received(b"zz\r\n")  # not a chunk size
        await asyncio.wait_for(transport.closed.wait(), 10)
        assert bytes(transport.out) == ok(b"early")  # nothing more to say

    run(scenario())
