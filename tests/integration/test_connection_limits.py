"""`server:` connection hygiene end to end: slow clients are cut by the header and body timeouts
while the official OpenAI SDK keeps being served, the connection limit answers 503 without
touching established connections, idle kept-alive connections close, and bad values are refused
by `plano validate` with their path."""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from click.testing import CliRunner

from plano.cli.validate import validate
from plano.config.server import ServerConfig
from plano.http.server import LeanServer
from plano.runtime.serve import ThreadedGateway
from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration

MODELS = b"GET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n"


def config(upstream: Any, server: str) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 5s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}
    default: true
server: {server}
"""


@pytest.fixture
def sdk() -> Iterator[list[openai.OpenAI]]:
    made: list[openai.OpenAI] = []
    yield made
    for c in made:
        c.close()


def chat(gw: ThreadedGateway, made: list[openai.OpenAI]) -> str:
    c = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0, timeout=10)
    made.append(c)
    completion = c.chat.completions.create(
        model="openai/gpt-4o", messages=[{"role": "user", "content": "still there?"}]
    )
    return completion.choices[0].message.content or ""


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


def read_to_eof(sock: socket.socket) -> bytes:
    """Everything until the server closes (a reset after its answer counts as a close)."""
    buf = bytearray()
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return bytes(buf)
        if not chunk:
            return bytes(buf)
        buf += chunk


def response(sock: socket.socket) -> bytes:
    """One response with a content-length, read off a kept-alive connection."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        assert chunk, buf
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, buf
        body += chunk
    return head + b"\r\n\r\n" + body


def closed_by_server(socks: list[socket.socket], trickle: bytes, within: float) -> list[bytes]:
    """Keep sending `trickle` (one byte at a time) on every socket the server has not answered;
    return what each received before the server closed it, all within `within` seconds."""
    answers: dict[socket.socket, bytes] = {}
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    give_up = time.monotonic() + within
    sent = 0
    try:
        while len(answers) < len(socks):
            assert time.monotonic() < give_up, f"{len(socks) - len(answers)} still open"
            for key, _ in sel.select(timeout=0.1):  # the trickle's pace, not a synchronisation
                s = key.fileobj
                assert isinstance(s, socket.socket)
                sel.unregister(s)
                answers[s] = read_to_eof(s)
            byte = trickle[sent % len(trickle) : sent % len(trickle) + 1]
            sent += 1
            for s in socks:
                if s not in answers:
                    with contextlib.suppress(OSError):  # closed under us: select sees it next
                        s.send(byte)
    finally:
        sel.close()
    return [answers[s] for s in socks]


def test_slowloris_heads_are_cut_while_the_sdk_is_served(
    upstream: Any, gateway: GatewayFactory, sdk: list[openai.OpenAI]
) -> None:
    with gateway(config(upstream, "{header_timeout: 0.5s}")) as gw:
        port = gw.port()
        socks = [connect(port) for _ in range(500)]
        try:
            for s in socks:
                s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n")
            assert chat(gw, sdk)  # served while 500 heads trickle
            answers = closed_by_server(socks, b"X-Slow: aaaaaaaaaaaaaaaa\r\n", within=60)
            assert chat(gw, sdk)
        finally:
            for s in socks:
                s.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), {a[:40] for a in answers}
    assert json.loads(answers[0].partition(b"\r\n\r\n")[2])["error"]["type"] == (
        "invalid_request_error"
    )


def test_bodies_that_stop_midway_are_cut_while_the_sdk_is_served(
    upstream: Any, gateway: GatewayFactory, sdk: list[openai.OpenAI]
) -> None:
    with gateway(config(upstream, "{body_timeout: 0.5s}")) as gw:
        port = gw.port()
        socks = [connect(port) for _ in range(100)]
        try:
            for s in socks:
                s.sendall(
                    b"POST /v1/chat/completions HTTP/1.1\r\nHost: gw\r\n"
                    b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
                    b'{"model": "openai/gpt-4o", "messages": ['
                )
            assert chat(gw, sdk)
            answers = [read_to_eof(s) for s in socks]  # each waits on the server's close
            assert chat(gw, sdk)
        finally:
            for s in socks:
                s.close()
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), {a[:40] for a in answers}


def test_beyond_max_connections_a_new_client_gets_503_and_the_others_stay(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with gateway(config(upstream, "{max_connections: 50}"), admin=None) as gw:
        port = gw.port()
        socks = [connect(port) for _ in range(50)]
        try:
            for s in socks:  # every one admitted and served before the 51st
                s.sendall(MODELS)
                assert response(s).startswith(b"HTTP/1.1 200 ")
            with connect(port) as extra:
                extra.sendall(MODELS)
                refused = read_to_eof(extra)
            assert refused.startswith(b"HTTP/1.1 503 ")
            head, _, body = refused.partition(b"\r\n\r\n")
            assert b"\r\nconnection: close" in head
            assert json.loads(body)["error"]["type"] == "overloaded"
            socks[17].sendall(MODELS)
            assert response(socks[17]).startswith(b"HTTP/1.1 200 ")
            assert isinstance(gw.server, LeanServer)
            assert gw.server.counters.refused == 1
        finally:
            for s in socks:
                s.close()


def test_an_idle_kept_alive_connection_is_closed(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream, "{keepalive_timeout: 0.3s}")) as gw, connect(gw.port()) as s:
        s.sendall(MODELS)
        assert response(s).startswith(b"HTTP/1.1 200 ")
        assert read_to_eof(s) == b""


def test_server_defaults() -> None:
    d = ServerConfig()
    assert (d.max_connections, d.header_timeout, d.body_timeout, d.keepalive_timeout) == (
        None,
        10.0,
        30.0,
        75.0,
    )
    assert d.drain_timeout == 8.0


@pytest.mark.parametrize(
    ("server", "path"),
    [
        ("{header_timeout: 0}", "server.header_timeout"),
        ("{body_timeout: soon}", "server.body_timeout"),
        ("{keepalive_timeout: -1}", "server.keepalive_timeout"),
        ("{max_connections: 0}", "server.max_connections"),
        ("{max_conections: 10}", "server.max_conections"),
    ],
)
def test_bad_server_values_are_refused_with_their_path(
    tmp_path: Path, upstream: Any, server: str, path: str
) -> None:
    file = tmp_path / "plano.yaml"
    file.write_text(config(upstream, server))
    result = CliRunner().invoke(validate, [str(file)])
    assert result.exit_code == 1
    assert path in result.output
