"""Connection hygiene of `LeanServer` over real sockets: header, body and keep-alive timeouts,
the connection limit, framing errors answered with a typed JSON error, and the drain order."""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import socket
import threading
import weakref
from typing import Any

import pytest
import uvloop

from plano.http import connection
from plano.http.connection import MAX_PIPELINED, HttpConnection, Shared
from plano.http.cycle import error_response
from plano.http.server import (
    FD_RESERVE,
    LeanServer,
    derived_max_connections,
    raise_nofile_limit,
)
from tests.compiled_marks import weakrefs
from tests.unit.http.lean_harness import (
    TEXT,
    Receive,
    Scope,
    Send,
    assert_eof,
    echo,
    expect,
    fake_connection,
    ok,
    recv_all,
    serving,
)

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"


def error_of(response: bytes) -> dict[str, Any]:
    head, _, body = response.partition(b"\r\n\r\n")
    assert b"\r\nconnection: close\r\n" in head + b"\r\n"
    error: dict[str, Any] = json.loads(body)["error"]
    return error


async def gateway_like(scope: Scope, receive: Receive, send: Send) -> None:
    """Reads the whole body; on `http.disconnect` returns without a response, as the gateway's
    pipeline does when the client is gone."""
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        size += len(message["body"])
        if not message["more_body"]:
            break
    body = b"%d" % size
    headers = [TEXT, (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


# -- error bodies ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (408, "invalid_request_error"),
        (414, "invalid_request_error"),
        (431, "invalid_request_error"),
        (501, "invalid_request_error"),
        (500, "server_error"),
        (503, "overloaded"),
    ],
)
def test_every_own_answer_carries_a_type_and_closes(status: int, kind: str) -> None:
    response = error_response(status)
    assert response.startswith(b"HTTP/1.1 %d " % status)
    error = error_of(response)
    assert (error["type"], bool(error["message"]), bool(error["code"])) == (kind, True, True)


# -- timeouts -------------------------------------------------------------------------------
def test_a_head_that_trickles_gets_408_and_a_close() -> None:
    with serving(echo, header_timeout=0.3) as srv, srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: a\r\n")  # never finished
        assert recv_all(sock) == error_response(408)
        assert srv.server.counters.header_timeouts == 1


def test_a_silent_new_connection_gets_408_and_a_close() -> None:
    with serving(echo, header_timeout=0.3) as srv, srv.connect() as sock:
        assert recv_all(sock) == error_response(408)


def test_the_head_time_of_a_kept_alive_request_counts_from_its_first_byte() -> None:
    with serving(echo, header_timeout=0.3) as srv, srv.connect() as sock:
        sock.sendall(b"GET /1 HTTP/1.1\r\n\r\n")
        expect(sock, ok(b"GET /1 |"))
        sock.sendall(b"GET /2 HTTP/1.1\r\n")
        assert recv_all(sock) == error_response(408)


def test_a_kept_alive_connection_is_not_held_by_the_header_timeout() -> None:
    # idle between requests, the keep-alive timeout applies (long here), not the header one:
    # the second request after the first's response still gets its answer.
    seen = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await echo(scope, receive, send)
            seen.set()

    with serving(app, header_timeout=5.0, keep_alive_timeout=30.0) as srv, srv.connect() as sock:
        sock.sendall(b"GET /1 HTTP/1.1\r\n\r\n")
        expect(sock, ok(b"GET /1 |"))
        assert seen.wait(10)
        sock.sendall(b"GET /2 HTTP/1.1\r\nConnection: close\r\n\r\n")
        assert recv_all(sock) == ok(b"GET /2 |", b"connection: close\r\n")


def test_a_body_that_stops_midway_gets_408_and_the_app_sees_a_disconnect() -> None:
    seen: list[str] = []
    done = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        while True:
            message = await receive()
            seen.append(message["type"])
            if message["type"] == "http.disconnect" or not message["more_body"]:
                break
        done.set()

    with serving(app, body_timeout=0.3) as srv, srv.connect() as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc")
        assert recv_all(sock) == error_response(408)
        assert done.wait(10)
        assert srv.server.counters.body_timeouts == 1
    assert seen == ["http.request", "http.disconnect"]


def test_a_body_that_keeps_coming_is_not_cut() -> None:
    with serving(gateway_like, body_timeout=2.0) as srv, srv.connect() as sock:
        sock.sendall(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        for _ in range(5):
            sock.sendall(b"2\r\nab\r\n")
        sock.sendall(b"0\r\n\r\n")
        assert recv_all(sock) == ok(b"10", b"connection: close\r\n")


def test_an_idle_kept_alive_connection_is_closed_and_counted() -> None:
    with serving(echo, keep_alive_timeout=0.2) as srv, srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        expect(sock, ok(b"GET / |"))
        assert_eof(sock)
        assert srv.server.counters.idle_closed == 1


def test_timeouts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="header_timeout"):
        LeanServer(echo, header_timeout=0)
    with pytest.raises(ValueError, match="max_connections"):
        LeanServer(echo, max_connections=0)


# -- connection limit -----------------------------------------------------------------------
def test_beyond_the_limit_a_connection_gets_503_and_the_others_keep_working() -> None:
    with serving(echo, max_connections=3) as srv:
        admitted = [srv.connect() for _ in range(3)]
        try:
            admitted[0].sendall(b"GET /first HTTP/1.1\r\n\r\n")  # all three are served ...
            expect(admitted[0], ok(b"GET /first |"))
            with srv.connect() as extra:  # ... so the fourth comes after them
                extra.sendall(b"GET /x HTTP/1.1\r\n\r\n")
                answer = recv_all(extra)
            assert answer == error_response(503)
            assert b"\r\nretry-after: 1\r\n" in answer
            assert error_of(answer)["type"] == "overloaded"
            for i, sock in enumerate(admitted):
                sock.sendall(b"GET /%d HTTP/1.1\r\n\r\n" % i)
                expect(sock, ok(b"GET /%d |" % i))
            assert srv.server.counters.refused == 1
            assert srv.server.connection_limit == 3
        finally:
            for sock in admitted:
                sock.close()


def test_the_derived_limit_keeps_a_reserve_for_upstreams_and_files() -> None:
    assert derived_max_connections(1024) == (1024 - FD_RESERVE) // 2 == 384
    assert derived_max_connections(65536) == 32640
    assert derived_max_connections(100) == 32  # never below the floor


def test_serving_raises_the_open_file_limit_and_derives_the_limit_from_it() -> None:
    soft = raise_nofile_limit()
    assert soft == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY:
        assert soft == hard
    with serving(echo) as srv:
        assert srv.server.connection_limit == derived_max_connections(soft)


# -- framing --------------------------------------------------------------------------------
FRAMING = [
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 12x\r\n\r\nhello", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello", 400),
    (b"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
    (b"POST / HTTP/1.1\r\nTransfer-Encoding: foo\r\n\r\nhello", 501),
]


@pytest.mark.parametrize(("request_bytes", "status"), FRAMING)
def test_framing_errors_are_answered_with_a_client_error(request_bytes: bytes, status: int) -> None:
    with serving(gateway_like) as srv, srv.connect() as sock:
        sock.sendall(b"GET /ok HTTP/1.1\r\n\r\n" + request_bytes)
        expect(sock, ok(b"0"))
        answer = recv_all(sock)
    assert answer == error_response(status)
    assert error_of(answer)["type"] == "invalid_request_error"


def test_a_chunked_body_with_extensions_and_mixed_case_is_fine() -> None:
    with serving(gateway_like) as srv, srv.connect() as sock:
        sock.sendall(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n"
            b"5;x=y\r\nhello\r\n0\r\n\r\n"
        )
        assert recv_all(sock) == ok(b"5", b"connection: close\r\n")


# -- drain order ----------------------------------------------------------------------------
def test_at_the_drain_deadline_a_cancelled_stream_still_writes_its_last_words() -> None:
    streaming = threading.Event()
    unwound = threading.Event()

    async def forever(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [TEXT]})
        try:
            while True:
                await send({"type": "http.response.body", "body": b"tick", "more_body": True})
                streaming.set()
                await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            marker = b"event: error\ndata: cut\n\n"
            await send({"type": "http.response.body", "body": marker, "more_body": True})
            unwound.set()
            raise

    with serving(forever, drain_seconds=0.2) as srv, srv.connect() as sock:
        sock.sendall(b"GET /stream HTTP/1.1\r\n\r\n")
        expect(sock, CHUNKED_HEAD + b"4\r\ntick\r\n")
        assert streaming.wait(10)
        srv.server.request_exit()
        rest = recv_all(sock)
        assert unwound.wait(10)
    assert rest.endswith(b"18\r\nevent: error\ndata: cut\n\n\r\n"), rest[-80:]


def test_a_head_held_back_by_our_own_flow_control_is_not_timed_out() -> None:
    async def scenario() -> bytes:
        gate = asyncio.Event()

        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            await gate.wait()
            await echo(scope, receive, send)

        conn, transport = fake_connection(app, header_timeout=5.0)
        queued = b"GET /q HTTP/1.1\r\n\r\n" * (MAX_PIPELINED + 1)
        conn.data_received(queued + b"GET /last HTTP/1.1\r\nConnection: close\r\n")
        assert not transport.reading  # the queue is full: reading paused, the head unfinished
        conn.head_deadline = conn.loop.time() - 1  # as if the header timeout had passed
        conn._on_timer()  # it fires: not the client's fault, so the deadline moves instead
        assert not transport.closing and conn.head_deadline > conn.loop.time()
        gate.set()
        conn.data_received(b"\r\n")
        await asyncio.wait_for(transport.closed.wait(), 10)
        return bytes(transport.out)

    loop = uvloop.new_event_loop()
    try:
        out = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert out == ok(b"GET /q |") * (MAX_PIPELINED + 1) + ok(
        b"GET /last |", b"connection: close\r\n"
    )


@weakrefs(connection)
def test_a_closed_connection_is_freed_by_reference_counting() -> None:
    """No reference cycle outlives a connection (its parser held the connection's callbacks):
    with the collector off, a connection served and closed is gone once closed. A client that
    opens a connection per request would otherwise leave cyclic garbage with every request."""

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        shared = Shared(echo, loop, 75.0)
        made: list[weakref.ref[HttpConnection]] = []

        def factory() -> HttpConnection:
            conn = HttpConnection(shared)
            made.append(weakref.ref(conn))
            return conn

        ours, theirs = socket.socketpair()
        theirs.setblocking(False)
        await loop.connect_accepted_socket(factory, ours)
        await loop.sock_sendall(theirs, b"GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := await loop.sock_recv(theirs, 65536):
            answer += chunk
        theirs.close()
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"GET /x |")
        shared.draining = True  # all_done: no connection and no app call left
        shared.check_done()
        await shared.all_done.wait()
        (ref,) = made
        return ref() is None

    gc.disable()
    try:
        freed = uvloop.run(scenario())
    finally:
        gc.enable()
    assert freed
