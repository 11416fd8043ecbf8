"""`LeanServer.retire`: leave for a successor from another thread; a connection accepted just
before (no request yet) is served, not dropped; the kept-alive idle one is closed."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from plano.http import connection
from tests.compiled_marks import patches
from tests.unit.http.lean_harness import echo, expect, ok, recv_all, serving


def wait_for(cond: object, what: str) -> None:
    deadline = time.monotonic() + 30
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def test_retire_serves_the_fresh_connection_and_closes_the_idle_one() -> None:
    with serving(echo) as srv, srv.connect() as idle, srv.connect() as fresh:
        idle.sendall(b"GET /idle HTTP/1.1\r\n\r\n")
        expect(idle, ok(b"GET /idle |"))
        wait_for(lambda: len(srv.server.connections) == 2, "both connections accepted")
        caller = threading.Thread(target=srv.server.retire, args=(5.0,))
        caller.start()  # from another thread, as a signal handler would
        caller.join(timeout=10)
        assert srv.server.drain_seconds == 5.0
        assert recv_all(idle) == b""  # the kept-alive idle connection: closed at once
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        # Accepted before the retire, its request arrives after: served, then closed.
        fresh.sendall(b"POST /late HTTP/1.1\r\ncontent-length: 2\r\n\r\nhi")
        answer = recv_all(fresh)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(
            b"\r\n\r\nPOST /late |hi"
        )
        srv.join()


@patches(connection)
def test_retire_answers_the_request_a_just_idle_connection_sends_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A client sends its next request as soon as it has read a response: the connection it
    reuses went idle a moment before the retire. Closing it at once would race that request into
    a reset (a failed request during a reload); it is answered, with `connection: close`. (The
    grace is made long here so that a slow machine cannot make the test's own pause exceed it.)"""
    monkeypatch.setattr(connection, "DRAIN_IDLE_GRACE_SECONDS", 60.0)
    with serving(echo) as srv, srv.connect() as conn:
        conn.sendall(b"GET /first HTTP/1.1\r\n\r\n")
        expect(conn, ok(b"GET /first |"))
        srv.server.retire(5.0)
        wait_for(lambda: srv.server._shared.draining, "the drain began")  # type: ignore[union-attr]
        conn.sendall(b"GET /next HTTP/1.1\r\n\r\n")
        answer = recv_all(conn)
        assert answer.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"connection: close\r\n" in answer.lower()
        assert answer.endswith(b"GET /next |")
        srv.join()
