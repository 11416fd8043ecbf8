"""LeanServer as a server: lifespan, graceful drain, write backpressure, the OpenAI SDK."""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
from typing import Any

import openai
import orjson
import pytest
import uvloop

from plano.http.server import LeanServer
from tests.unit.http.lean_harness import (
    TEXT,
    Receive,
    Scope,
    Send,
    echo,
    expect,
    listening_socket,
    ok,
    read_all,
    recv_all,
    serving,
)

CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n"


def _never_ending(started: threading.Event, cancelled: threading.Event) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/stream":
            await echo(scope, receive, send)
            return
        await read_all(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [TEXT]})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    return app


async def lifespan(events: list[str], receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        events.append(message["type"])
        await send({"type": message["type"] + ".complete"})
        if message["type"] == "lifespan.shutdown":
            return


# -- lifespan -------------------------------------------------------------------------------
def test_lifespan_startup_and_shutdown_around_serving() -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            assert scope["asgi"]["version"] == "3.0"
            await lifespan(events, receive, send)
        else:
            events.append("request")
            await echo(scope, receive, send)

    with serving(app) as srv, srv.connect() as sock:
        sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
        expect(sock, ok(b"GET / |"))
    assert events == ["lifespan.startup", "request", "lifespan.shutdown"]


@pytest.mark.parametrize("how", ["failed", "raised"])
def test_failed_lifespan_startup_does_not_serve(how: str) -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        if how == "raised":
            raise RuntimeError("no config")
        await send({"type": "lifespan.startup.failed", "message": "no config"})

    calls: list[str] = []
    server = LeanServer(app, on_started=lambda: calls.append("started"))
    sock = listening_socket()
    try:
        uvloop.run(server.serve([sock]))
    finally:
        sock.close()
    assert not server.started
    assert calls == []


def test_exit_during_a_startup_that_never_completes() -> None:
    holder: dict[str, LeanServer] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        assert (await receive())["type"] == "lifespan.startup"
        holder["server"].request_exit()
        await asyncio.Event().wait()

    server = holder["server"] = LeanServer(app)
    sock = listening_socket()
    try:
        uvloop.run(server.serve([sock]))
    finally:
        sock.close()
    assert not server.started


# -- drain ----------------------------------------------------------------------------------
def test_graceful_exit_closes_idle_finishes_in_flight_and_refuses_new() -> None:
    release = asyncio.Event()
    streaming = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/stream":
            await echo(scope, receive, send)
            return
        await read_all(receive)
        await send({"type": "http.response.start", "status": 200, "headers": [TEXT]})
        await send({"type": "http.response.body", "body": b"one", "more_body": True})
        streaming.set()
        await release.wait()
        await send({"type": "http.response.body", "body": b"two", "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    with serving(app) as srv, srv.connect() as idle, srv.connect() as busy:
        idle.sendall(b"GET /idle HTTP/1.1\r\n\r\n")
        expect(idle, ok(b"GET /idle |"))
        busy.sendall(b"GET /stream HTTP/1.1\r\n\r\n")
        expect(busy, CHUNKED_HEAD + b"3\r\none\r\n")
        assert streaming.wait(timeout=10)
        srv.server.request_exit()
        assert recv_all(idle) == b""  # closed at once
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        busy.sendall(b"GET /queued HTTP/1.1\r\n\r\n")  # pipelined behind: dropped at close
        srv.soon(release.set)
        assert recv_all(busy) == b"3\r\ntwo\r\n0\r\n\r\n"  # finished, then closed
        srv.join()


def test_drain_aborts_a_response_that_never_ends() -> None:
    started, cancelled = threading.Event(), threading.Event()
    with serving(_never_ending(started, cancelled), drain_seconds=0.5) as srv, srv.connect() as s:
        s.sendall(b"GET /stream HTTP/1.1\r\n\r\n")
        expect(s, CHUNKED_HEAD + b"3\r\none\r\n")
        assert started.wait(timeout=10)
        srv.server.request_exit()
        assert recv_all(s) == b""  # cut off: the last chunk never comes
        srv.join()
    assert cancelled.is_set()


def test_drain_waits_for_app_calls_whose_client_has_gone() -> None:
    events: list[str] = []
    responded = threading.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await lifespan(events, receive, send)
            return
        await echo(scope, receive, send)
        responded.set()
        try:
            await asyncio.Event().wait()  # work after the response, e.g. telemetry
        except asyncio.CancelledError:
            events.append("app cancelled")
            raise

    with serving(app, drain_seconds=0.2) as srv:
        with srv.connect() as sock:
            sock.sendall(b"GET / HTTP/1.1\r\n\r\n")
            expect(sock, ok(b"GET / |"))
        assert responded.wait(timeout=10)
        srv.server.request_exit()
        srv.join()
    assert events == ["lifespan.startup", "app cancelled", "lifespan.shutdown"]


def test_a_second_signal_forces_exit() -> None:
    started, cancelled = threading.Event(), threading.Event()
    with serving(_never_ending(started, cancelled), drain_seconds=600) as srv, srv.connect() as s:
        s.sendall(b"GET /stream HTTP/1.1\r\n\r\n")
        expect(s, CHUNKED_HEAD + b"3\r\none\r\n")
        assert started.wait(timeout=10)
        srv.server.handle_exit(signal.SIGTERM, None)
        assert srv.server.should_exit and not srv.server.force_exit
        srv.server.handle_exit(signal.SIGTERM, None)
        assert srv.server.force_exit
        assert recv_all(s) == b""
        srv.join()  # well before drain_seconds
    assert cancelled.is_set()


# -- backpressure ---------------------------------------------------------------------------
def test_streaming_to_a_slow_reader_keeps_the_write_buffer_bounded() -> None:
    chunk = b"x" * 65536
    count = 160  # 10 MiB: far beyond the 16 KiB socket buffers
    bound = 4 * 65536  # high-water mark (64 KiB) + one chunk, with room to spare
    seen = {"max": 0, "queued": 0}
    holder: dict[str, LeanServer] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        await read_all(receive)
        (conn,) = [c for c in holder["server"].connections if c.client_addr == scope["client"]]
        size = b"%d" % (len(chunk) * count)
        headers = [TEXT, (b"content-length", size)]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for _ in range(count):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            buffered = conn.transport.get_write_buffer_size()
            seen["max"] = max(seen["max"], buffered)
            seen["queued"] += buffered > 0
            assert buffered <= bound, f"{buffered} bytes buffered"
        await send({"type": "http.response.body", "body": b""})

    with serving(app, sndbuf=16384) as srv, srv.connect(rcvbuf=16384) as sock:
        holder["server"] = srv.server
        sock.sendall(b"GET /big HTTP/1.1\r\n\r\n")
        expect(
            sock, b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 10485760\r\n\r\n"
        )
        received = 0
        while received < len(chunk) * count:
            data = sock.recv(4096)  # slowly, in small reads
            assert data, f"the response was cut off after {received} bytes"
            received += len(data)
    assert seen["queued"] > 0, "the reader never fell behind: backpressure was not exercised"
    assert seen["max"] <= bound


# -- the official OpenAI SDK ----------------------------------------------------------------
def _chunk(model: str, delta: dict[str, Any], finish: str | None) -> bytes:
    obj = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    return b"data: " + orjson.dumps(obj) + b"\n\n"


async def tiny_openai(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    assert (scope["method"], scope["path"]) == ("POST", "/v1/chat/completions")
    req = orjson.loads(await read_all(receive))
    model = req["model"]
    if req.get("stream"):
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        events = [_chunk(model, {"role": "assistant", "content": ""}, None)]
        events += [_chunk(model, {"content": piece}, None) for piece in ("Hel", "lo", "!")]
        events += [_chunk(model, {}, "stop"), b"data: [DONE]\n\n"]
        for event in events:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = orjson.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "Hello!"},
                    "finish_reason": "stop",
                }
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
        }
    )
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def test_openai_sdk_chat_completion_and_stream() -> None:
    messages: Any = [{"role": "user", "content": "hi"}]
    clients: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        clients.append(scope.get("client"))
        await tiny_openai(scope, receive, send)

    with serving(app) as srv:
        base = f"http://127.0.0.1:{srv.port}/v1"
        with openai.OpenAI(base_url=base, api_key="k", max_retries=0) as client:
            for _ in range(2):
                done = client.chat.completions.create(model="gpt-4o", messages=messages)
                assert done.choices[0].message.content == "Hello!"
                assert done.usage is not None and done.usage.total_tokens == 5
            for _ in range(2):
                parts = client.chat.completions.create(
                    model="gpt-4o", messages=messages, stream=True
                )
                text = "".join(c.choices[0].delta.content or "" for c in parts if c.choices)
                assert text == "Hello!"
    assert clients[1] == clients[2]  # the second call reused the keep-alive connection
    assert len(clients) == 5  # lifespan + four requests
