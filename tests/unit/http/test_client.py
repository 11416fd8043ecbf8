"""The lean upstream HTTP/1.1 client: parsing at every byte split, flow control, TLS.

(Pooling, timeouts and failure mapping on real sockets: tests/unit/upstream/test_transport.py.)"""

from __future__ import annotations

import asyncio
import gc
import socket
import ssl
import subprocess
import threading
import weakref
from collections.abc import Awaitable
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.errors import UpstreamUnavailable
from plano.http import client as http1
from plano.http.client import Connection, Http1Client, Pool, Response, split_url
from plano.upstream.lean import LeanTransport
from tests.compiled_marks import weakrefs

# -- the protocol on a fake transport, fed at arbitrary splits ----------------------------------


class FakeTransport:
    def __init__(self) -> None:
        self.written = b""
        self.paused = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.written += data

    def writelines(self, parts: Any) -> None:
        for p in parts:
            self.write(p)

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def abort(self) -> None:
        self.aborted = True

    def is_closing(self) -> bool:
        return self.aborted


def _connection(loop: asyncio.AbstractEventLoop) -> tuple[Connection, FakeTransport]:
    pool = Pool(split_url("http://up.example:8080/v1"), None)
    conn = Connection(pool, loop)
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def _chunked(body: bytes, pieces: int) -> bytes:
    size = max(1, len(body) // pieces)
    parts = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%b\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


RESPONSE_BODIES = st.binary(min_size=0, max_size=300)


def _run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


@settings(max_examples=150, deadline=None)
@given(body=RESPONSE_BODIES, framing=st.sampled_from(["length", "chunked"]), data=st.data())
def test_response_parsed_identically_at_every_split(body: bytes, framing: str, data: Any) -> None:
    if framing == "length":
        wire = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-A: 1\r\n"
        wire += b"Content-Length: %d\r\n\r\n%b" % (len(body), body)
    else:
        wire = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nX-A: 1\r\n"
        wire += b"Transfer-Encoding: chunked\r\n\r\n" + _chunked(body, 3)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))

    async def scenario() -> tuple[Response, bytes, list[bytes]]:
        conn, transport = _connection(asyncio.get_running_loop())
        response = conn.start(b"POST /v1 HTTP/1.1\r\n\r\n", b"{}")
        prev = 0
        for cut in [*cuts, len(wire)]:
            conn.data_received(wire[prev:cut]) if cut > prev else None
            prev = cut
        await conn.headers()
        chunks = [c async for c in response.content.iter_any()]
        assert transport.written == b"POST /v1 HTTP/1.1\r\n\r\n{}"
        return response, b"".join(chunks), chunks

    response, got, _ = _run(scenario())
    assert response.status == 200
    assert response.content_type == "text/event-stream"
    assert response.headers["x-a"] == "1"
    assert got == body
    assert response.complete


def test_close_delimited_body_ends_with_the_connection() -> None:
    async def scenario() -> bytes:
        conn, _ = _connection(asyncio.get_running_loop())
        response = conn.start(b"POST / HTTP/1.1\r\n\r\n", b"")
        conn.data_received(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{"a"')
        conn.data_received(b": 1}")
        conn.connection_lost(None)
        body = await response.read()
        assert not conn.reusable
        return body

    assert _run(scenario()) == b'{"a": 1}'


def _run_without_collector(coro: Awaitable[Any]) -> Any:
    """`coro`'s result with the cyclic collector off: only reference counting frees objects."""
    gc.disable()
    try:
        return _run(coro)
    finally:
        gc.enable()


@weakrefs(http1)
def test_a_finished_response_is_freed_by_reference_counting() -> None:
    """No reference cycle through a response: with the collector off, a response read, released
    and dropped is gone at once (cyclic garbage of every request made the collector run every
    few hundred requests and rescan everything in flight)."""

    async def scenario() -> bool:
        conn, _ = _connection(asyncio.get_running_loop())
        response = conn.start(b"POST / HTTP/1.1\r\n\r\n", b"")
        conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok")
        await conn.headers()
        assert [c async for c in response.content.iter_any()] == [b"ok"]
        response.release()
        ref = weakref.ref(response)
        del response
        return ref() is None

    assert _run_without_collector(scenario())


@weakrefs(http1)
def test_a_closed_upstream_connection_is_freed_by_reference_counting() -> None:
    """An upstream that closes after each answer (`connection: close`) must not leave cyclic
    garbage per request: the parser held the connection's callbacks until it is detached."""

    async def scenario() -> bool:
        conn, _ = _connection(asyncio.get_running_loop())
        response = conn.start(b"POST / HTTP/1.1\r\n\r\n", b"")
        conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        assert await response.read() == b"ok"
        conn.connection_lost(None)
        response.release()
        assert not conn.reusable
        ref = weakref.ref(conn)
        del conn, response
        return ref() is None

    assert _run_without_collector(scenario())


def test_connection_lost_mid_body_is_an_error() -> None:
    async def scenario() -> None:
        conn, _ = _connection(asyncio.get_running_loop())
        response = conn.start(b"POST / HTTP/1.1\r\n\r\n", b"")
        conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345")
        conn.connection_lost(None)
        with pytest.raises(http1.ServerDisconnected):
            await response.read()

    _run(scenario())


def test_garbage_is_a_protocol_violation() -> None:
    async def scenario() -> None:
        conn, transport = _connection(asyncio.get_running_loop())
        conn.start(b"POST / HTTP/1.1\r\n\r\n", b"")
        conn.data_received(b"NOT HTTP AT ALL\r\n\r\n")
        with pytest.raises(http1.ProtocolViolation):
            await conn.headers()
        assert transport.aborted

    _run(scenario())


def test_reading_pauses_while_the_consumer_lags() -> None:
    async def scenario() -> None:
        conn, transport = _connection(asyncio.get_running_loop())
        response = conn.start(b"POST / HTTP/1.1\r\n\r\n", b"")
        big = http1.HIGH_WATER + 10
        conn.data_received(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (big + 5))
        conn.data_received(b"x" * big)
        assert transport.paused
        got = b""
        async for chunk in response.content.iter_any():
            got += chunk
            assert not transport.paused
            if len(got) == big:
                conn.data_received(b"yyyyy")
        assert len(got) == big + 5
        assert conn.reusable

    _run(scenario())


@pytest.mark.parametrize("before_read", [0, 1, 2, 3])
def test_a_body_larger_than_the_high_water_mark_is_read_whole(before_read: int) -> None:
    """`read()` takes nothing until the end, so reading must not pause (it would never resume:
    a non-streamed answer over 1 MB hung until the upstream timeout). The body comes in three
    parts, two of them past the mark; `before_read` of them arrive before `read()` is called."""

    async def scenario() -> None:
        conn, transport = _connection(asyncio.get_running_loop())
        response = conn.start(b"POST / HTTP/1.1\r\n\r\n", b"")
        parts = [bytes([65 + i]) * (http1.HIGH_WATER // 2 + 10) for i in range(3)]
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % sum(map(len, parts))
        conn.data_received(head + parts[0] if before_read else head)
        for data in parts[1:before_read]:
            conn.data_received(data)
        reading = asyncio.ensure_future(response.read())
        await asyncio.sleep(0)  # read() waits for the rest
        for data in parts[max(before_read, 1) :] if before_read else parts:
            assert not transport.paused  # a paused transport would never deliver this part
            conn.data_received(data)
        assert await reading == b"".join(parts)
        assert not transport.paused
        assert conn.reusable

    _run(scenario())


@settings(max_examples=200, deadline=None)
@given(
    body=st.binary(min_size=17, max_size=300),  # past the mark of 16 bytes set below
    framing=st.sampled_from(["length", "chunked"]),
    data=st.data(),
)
def test_read_takes_the_whole_body_at_every_split(body: bytes, framing: str, data: Any) -> None:
    """`read()` started at any point of the body, fed at any splits, with a read-ahead mark of
    16 bytes: the body comes back whole and reading is never left paused once `read()` waits."""
    if framing == "length":
        wire = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%b" % (len(body), body)
    else:
        wire = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + _chunked(body, 5)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    pieces = [wire[a:b] for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True) if b > a]
    early = data.draw(st.integers(1, len(pieces)))  # pieces fed before read() is called

    async def scenario() -> bytes:
        conn, transport = _connection(asyncio.get_running_loop())
        response = conn.start(b"POST / HTTP/1.1\r\n\r\n", b"")
        for piece in pieces[:early]:
            conn.data_received(piece)
        reading = asyncio.ensure_future(response.read())
        await asyncio.sleep(0)  # read() is waiting for the rest, if any
        for piece in pieces[early:]:
            assert not transport.paused
            conn.data_received(piece)
        got = await reading
        assert not transport.paused
        return got

    with patch("plano.http.response.HIGH_WATER", 16):
        assert _run(scenario()) == body


def test_informational_response_is_skipped() -> None:
    async def scenario() -> Response:
        conn, _ = _connection(asyncio.get_running_loop())
        response = conn.start(b"POST / HTTP/1.1\r\n\r\n", b"")
        conn.data_received(b"HTTP/1.1 100 Continue\r\n\r\n")
        conn.data_received(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
        await conn.headers()
        assert await response.read() == b"ok"
        return response

    assert _run(scenario()).status == 201


def test_head_refuses_line_breaks_in_headers() -> None:
    target = split_url("http://h:1/p?q=1")
    with pytest.raises(ValueError, match="line break"):
        http1._head(b"POST", target, [("x-a", "1\r\nx-b: 2")], 0)
    head = http1._head(b"POST", target, [("X-A", "1"), ("Host", "virtual.example")], 3)
    assert head == (
        b"POST /p?q=1 HTTP/1.1\r\nhost: virtual.example\r\nX-A: 1\r\ncontent-length: 3\r\n\r\n"
    )


def test_split_url() -> None:
    t = split_url("https://api.example.com/v1/chat")
    assert (t.host, t.port, t.tls, t.path, t.host_header) == (
        "api.example.com",
        443,
        True,
        b"/v1/chat",
        b"api.example.com",
    )
    assert split_url("http://[::1]:8080").host_header == b"[::1]:8080"
    with pytest.raises(ValueError):
        split_url("ftp://x/")


# -- against real sockets on 127.0.0.1 ---------------------------------------------------------

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


def test_tls_upstream(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve(connections: int) -> None:
        # A blocking TLS server in a thread: it closes every socket itself, handshake or not.
        for _ in range(connections):
            raw, _ = listener.accept()
            try:
                with server_ctx.wrap_socket(raw, server_side=True) as tls:
                    data = b""
                    while not data.endswith(b"{}"):
                        data += tls.recv(4096)
                    tls.sendall(OK)
            except (ssl.SSLError, OSError):
                raw.close()

    thread = threading.Thread(target=serve, args=(2,))
    thread.start()

    async def scenario() -> bytes:
        client = Http1Client(ssl_context=ssl.create_default_context(cafile=str(cert)))
        response, _, _ = await client.request(b"POST", f"https://localhost:{port}/v1", [], b"{}")
        body = await response.read()
        response.release()
        client.close()
        # An untrusted certificate is refused.
        strict = Http1Client(ssl_context=ssl.create_default_context())
        with pytest.raises(ssl.SSLError):
            await strict.request(b"POST", f"https://localhost:{port}/v1", [], b"{}")
        strict.close()
        return body

    try:
        assert _run(scenario()) == b"{}"
    finally:
        thread.join(10)
        listener.close()


def test_client_refuses_header_injection_before_connecting() -> None:
    async def scenario() -> None:
        transport = LeanTransport()
        await transport.start()
        with pytest.raises(UpstreamUnavailable, match=r"cannot send .* line break"):
            await transport.send(b"POST", "http://127.0.0.1:9/v1", [("x-a", "1\r\nx-b: 2")], b"")
        await transport.close()

    _run(scenario())
