"""`LeanServer.retire`: leave for a successor from another thread; a connection accepted just
before (no request yet) is served, not dropped; the kept-alive idle one is closed."""

from __future__ import annotations

import socket
import threading
import time

import pytest

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
