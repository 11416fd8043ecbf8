"""LeanServer's HTTP/1.1 on raw sockets: exact bytes in, exact bytes out."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from typing import Any

import pytest

from plano.http.cycle import error_response
from tests.unit.http.lean_harness import (
    TEXT,
    Receive,
    Scope,
    Send,
    assert_eof,
    echo,
    expect,
    head_of,
    ok,
    read_all,
    recv_all,
    send_text,
    serving,
    stream,
)

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"
CHUNKED_BODY = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
CLOSE = b"connection: close\r\n"
UPGRADE_WITH_BODY = (
    b"POST / HTTP/1.1\r\nConnection: upgrade\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nhi"
)


def test_keep_alive_serves_several_requests_on_one_connection() -> None:
    with serving(echo) as srv, srv.connect() as sock:
        sock.sendall(b"GET /a%20b?x=1&y=%20 HTTP/1.1\r\nHost: t\r\n\r\n")
        expect(sock, ok(b"GET /a b x=1&y=%20|"))
        sock.sendall(b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        expect(sock, ok(b"POST /p |abc"))


def test_scope() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scopes.append(scope)
            await send_text(send, b"")

    with serving(app) as srv, srv.connect() as sock:
        sock.sendall(b"GET /caf%C3%A9/x?q=%41 HTTP/1.1\r\nHost: T\r\nX-Dup: 1\r\nx-dup: 2\r\n\r\n")
        expect(sock, ok(b""))
        client = sock.getsockname()
    (scope,) = scopes
    assert scope == {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/café/x",
        "raw_path": b"/caf%C3%A9/x",
        "query_string": b"q=%41",
        "root_path": "",
        "headers": [(b"host", b"T"), (b"x-dup", b"1"), (b"x-dup", b"2")],
        "server": ("127.0.0.1", srv.port),
        "client": (client[0], client[1]),
    }


def test_three_pipelined_requests_in_one_write_are_answered_in_order() -> None:
    running = {"now": 0, "max": 0}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        running["now"] += 1
        running["max"] = max(running["max"], running["now"])
        try:
            for _ in range(int(scope["query_string"] or 0)):  # the first one is slowest
                await asyncio.sleep(0)
            await echo(scope, receive, send)
        finally:
            running["now"] -= 1

    requests = (
        b"GET /1?20 HTTP/1.1\r\nHost: t\r\n\r\n"
        b"POST /2?5 HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /3 HTTP/1.1\r\nHost: t\r\n\r\n"
    )
    with serving(app) as srv, srv.connect() as sock:
        sock.sendall(requests)
        expect(sock, ok(b"GET /1 20|") + ok(b"POST /2 5|hello") + ok(b"GET /3 |"))
    assert running["max"] == 1


def test_chunked_request_body_is_delivered_as_it_arrives() -> None:
    async def relay(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": [TEXT]})
        while True:
            message = await receive()
            await send({"type": "http.response.body", "body": message["body"], "more_body": True})
            if not message["more_body"]:
                break
        await send({"type": "http.response.body", "body": b""})

    with serving(relay) as srv, srv.connect() as sock:
        sock.sendall(b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        sock.sendall(b"4\r\nWiki\r\n")
        expect(sock, CHUNKED_HEAD + b"4\r\nWiki\r\n")
        sock.sendall(b"5\r\npedia\r\n")
        expect(sock, b"5\r\npedia\r\n")
        sock.sendall(b"0\r\n\r\n")
        expect(sock, b"0\r\n\r\n")
        sock.sendall(b"POST /d HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n")
        expect(sock, CHUNKED_HEAD + b"2\r\nab\r\n0\r\n\r\n")


def test_large_upload_survives_read_pauses() -> None:
    async def digest(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        h, size = hashlib.sha256(), 0
        while True:
            message = await receive()
            h.update(message["body"])
            size += len(message["body"])
            await asyncio.sleep(0)  # a slow consumer: reading must pause and resume
            if not message["more_body"]:
                break
        await send_text(send, b"%d %s" % (size, h.hexdigest().encode()))

    body = bytes(range(256)) * (8 * 4096)  # 8 MiB
    with serving(digest) as srv, srv.connect() as sock:
        sender = threading.Thread(
            target=sock.sendall,
            args=(b"PUT /u HTTP/1.1\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),),
        )
        sender.start()
        expect(sock, ok(b"%d %s" % (len(body), hashlib.sha256(body).hexdigest().encode())))
        sender.join()


def test_expect_100_continue_is_sent_when_the_app_reads() -> None:
    with serving(echo) as srv, srv.connect() as sock:
        sock.sendall(b"POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        expect(sock, b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        expect(sock, ok(b"POST /e |hello"))


def test_expect_100_without_reading_answers_and_closes() -> None:
    async def refuse(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send_text(send, b"no", status=413)

    with serving(refuse) as srv, srv.connect() as sock:
        sock.sendall(b"POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
        assert recv_all(sock) == ok(b"no", CLOSE, status=413)


def test_response_before_the_body_is_read_keeps_the_connection() -> None:
    seen: list[Any] = []

    async def early(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await send_text(send, scope["path"].encode())
            seen.append(await receive())  # the body is not complete, the response is

    with serving(early) as srv, srv.connect() as sock:
        sock.sendall(b"POST /first HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123")
        expect(sock, ok(b"/first"))
        sock.sendall(b"456789GET /next HTTP/1.1\r\n\r\n")
        expect(sock, ok(b"/next"))
    assert seen == [{"type": "http.disconnect"}] * 2


def test_http10_closes_unless_keep_alive() -> None:
    with serving(echo) as srv:
        with srv.connect() as sock:
            sock.sendall(b"GET /x HTTP/1.0\r\n\r\n")
            assert recv_all(sock) == ok(b"GET /x |", CLOSE)
        with srv.connect() as sock:
            sock.sendall(b"GET /y HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            expect(sock, ok(b"GET /y |", b"connection: keep-alive\r\n"))
            sock.sendall(b"GET /z HTTP/1.0\r\n\r\n")
            assert recv_all(sock) == ok(b"GET /z |", CLOSE)


def test_http10_stream_is_close_delimited() -> None:
    with serving(stream) as srv, srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        head = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nconnection: close\r\n\r\n"
        assert recv_all(sock) == head + b"hello world"


def test_client_connection_close() -> None:
    with serving(echo) as srv, srv.connect() as sock:
        sock.sendall(b"GET /bye HTTP/1.1\r\nConnection: close\r\n\r\nGET /never HTTP/1.1\r\n\r\n")
        assert recv_all(sock) == ok(b"GET /bye |", CLOSE)


@pytest.mark.parametrize(("app", "full"), [(echo, ok(b"HEAD /h |")), (stream, CHUNKED_HEAD)])
def test_head_responses_have_no_body(app: Any, full: bytes) -> None:
    head = head_of(full).replace(b"transfer-encoding: chunked\r\n", b"")
    with serving(app) as srv, srv.connect() as sock:
        sock.sendall(b"HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n")
        expect(sock, head)
        expect(sock, ok(b"GET /g |") if app is echo else CHUNKED_HEAD + CHUNKED_BODY)


def test_chunked_response_framing() -> None:
    with serving(stream) as srv, srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        expect(sock, (CHUNKED_HEAD + CHUNKED_BODY) * 2)


def test_no_body_statuses_are_not_framed() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            status = int(scope["path"][1:])
            await send({"type": "http.response.start", "status": status, "headers": [TEXT]})
            await send({"type": "http.response.body", "body": b"ignored"})

    with serving(app) as srv, srv.connect() as sock:
        sock.sendall(b"GET /204 HTTP/1.1\r\n\r\nGET /304 HTTP/1.1\r\n\r\n")
        expect(sock, b"HTTP/1.1 204 No Content\r\ncontent-type: text/plain\r\n\r\n")
        expect(sock, b"HTTP/1.1 304 Not Modified\r\ncontent-type: text/plain\r\n\r\n")
        sock.sendall(b"GET /299 HTTP/1.1\r\n\r\n")
        expect(sock, b"HTTP/1.1 299 \r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"GARBAGE\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n" + b"".join(b"h%d: v\r\n" % i for i in range(101)) + b"\r\n", 431),
        (b"GET / HTTP/1.1\r\nBig: " + b"v" * 70_000 + b"\r\n\r\n", 431),
        (b"GET /" + b"a" * 8200 + b" HTTP/1.1\r\n\r\n", 414),
        (UPGRADE_WITH_BODY, 501),
    ],
)
def test_bad_requests_are_answered_and_closed(request_bytes: bytes, status: int) -> None:
    with serving(echo) as srv, srv.connect() as sock:
        sock.sendall(b"GET /ok HTTP/1.1\r\n\r\n")
        expect(sock, ok(b"GET /ok |"))
        for i in range(0, len(request_bytes), 16384):  # a big head arrives over several reads
            sock.sendall(request_bytes[i : i + 16384])
        assert recv_all(sock) == error_response(status)


def test_pipelined_request_before_a_bad_one_is_answered_first() -> None:
    with serving(echo) as srv, srv.connect() as sock:
        sock.sendall(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\nBAD\x01\r\n\r\n")
        assert recv_all(sock) == ok(b"GET /1 |") + ok(b"GET /2 |") + error_response(400)


def test_upgrade_is_served_as_plain_http_then_closed() -> None:
    with serving(echo) as srv, srv.connect() as sock:
        sock.sendall(
            b"GET /ws HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"
        )
        assert recv_all(sock) == ok(b"GET /ws |", CLOSE)


@pytest.mark.parametrize("where", ["before start", "no response", "bad header", "mid-stream"])
def test_app_failures(where: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_all(receive)
        if where == "no response":
            return
        if where == "bad header":
            headers = [(b"x-evil", b"a\r\nset-cookie: b")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
        if where == "mid-stream":
            await send({"type": "http.response.start", "status": 200, "headers": [TEXT]})
            await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("boom")

    with serving(app) as srv, srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        data = recv_all(sock)
    if where == "mid-stream":
        assert data == CHUNKED_HEAD + b"4\r\npart\r\n"  # truncated: no last chunk
    else:
        assert data == error_response(500)


def test_idle_keep_alive_connection_is_closed_after_the_timeout() -> None:
    with serving(echo, keep_alive_timeout=0.2) as srv, srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        expect(sock, ok(b"GET / |"))
        assert_eof(sock)


def test_disconnect_mid_stream_wakes_a_receive_waiter() -> None:
    seen: list[Any] = []
    finished = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_all(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [TEXT]})
        await send({"type": "http.response.body", "body": b"first", "more_body": True})
        watcher = asyncio.ensure_future(receive())  # as the gateway's relay does
        seen.append(await watcher)
        await send({"type": "http.response.body", "body": b"late", "more_body": True})
        await send({"type": "http.response.body", "body": b""})  # both return silently
        seen.append("sent")
        finished.set()

    with serving(app) as srv:
        with srv.connect() as sock:
            sock.sendall(b"GET /s HTTP/1.1\r\n\r\n")
            expect(sock, CHUNKED_HEAD + b"5\r\nfirst\r\n")
        assert finished.wait(timeout=10)
    assert seen == [{"type": "http.disconnect"}, "sent"]


def test_receive_after_the_response_is_a_disconnect() -> None:
    seen: list[Any] = []
    finished = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = await read_all(receive)
        watcher = asyncio.ensure_future(receive())  # waiting before the response completes
        await asyncio.sleep(0)
        await send_text(send, body)
        seen.append(await watcher)
        seen.append(await receive())
        finished.set()

    with serving(app, drain_seconds=0.1) as srv, srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        expect(sock, ok(b""))
        assert finished.wait(timeout=10)
        finished.clear()
        sock.sendall(b"POST /again HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi")
        expect(sock, ok(b"hi"))
        assert finished.wait(timeout=10)
    assert seen == [{"type": "http.disconnect"}] * 4
