"""The pool never sends a request twice: a pooled connection the peer closed is dropped before
it is written to; a connection that dies after the write is the caller's error (no resend)."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import uvloop

from plano.http import client as http1
from plano.http.client import Http1Client, ServerDisconnected

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
WAIT_S = 10.0


class Upstream:
    """A blocking HTTP/1.1 server in a thread; `script(i_conn, i_req)` says what to do with the
    i-th request of the i-th connection: bytes to answer, or None to close without answering."""

    def __init__(self, script: Callable[[int, int], bytes | None]) -> None:
        self.script = script
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.requests = 0
        self.closed = threading.Event()  # set each time the server closes a connection
        self.close_first = False
        self.close_now = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            n = self.connections
            self.connections += 1
            threading.Thread(target=self._conn, args=(conn, n), daemon=True).start()

    def _conn(self, conn: socket.socket, n: int) -> None:
        buf = b""
        i = 0
        with conn:
            while True:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, buf = buf.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                while len(buf) < length:
                    buf += conn.recv(65536)
                buf = buf[length:]
                self.requests += 1
                answer = self.script(n, i)
                i += 1
                if answer is None:
                    break
                conn.sendall(answer)
                if self.close_first and n == 0:
                    self.close_now.wait(WAIT_S)
                    break
        self.closed.set()

    def close(self) -> None:
        self.sock.close()


def _get(client: Http1Client, port: int) -> asyncio.Future[bytes]:
    async def go() -> bytes:
        resp, _, _ = await client.request(b"POST", f"http://127.0.0.1:{port}/v1", [], b"{}")
        try:
            return await resp.read()
        finally:
            resp.release()

    return asyncio.ensure_future(go())


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_a_pooled_connection_the_peer_closed_is_dropped_before_it_is_written(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    up = Upstream(lambda n, i: OK)
    up.close_first = True  # the first connection closes after its answer, when told

    async def main() -> None:
        client = Http1Client()
        assert await _get(client, up.port) == b"ok"
        (pool,) = client._pools.values()
        (conn,) = pool._idle
        assert not conn.peer_gone()  # open and quiet
        # The server closes it while the event loop is blocked here: only the peek before
        # reuse can see it.
        up.close_now.set()
        assert up.closed.wait(WAIT_S)
        assert not conn.closed
        conn.idle_since -= http1.PROBE_IDLE_S  # idle long enough to be peeked at
        assert await _get(client, up.port) == b"ok"
        assert pool.stale == 1 and client.stale == 1
        client.close()

    try:
        run(main())
    finally:
        up.close()
    assert up.connections == 2
    assert up.requests == 2  # nothing was written to the dead connection


@pytest.mark.parametrize("hold", [0.0, 2.0])
def test_a_reused_connection_that_dies_after_the_write_is_not_resent(hold: float) -> None:
    """The upstream holds the second request (on the reused connection), then closes without
    answering: the caller gets the failure, and the upstream got the request exactly once."""
    done = threading.Event()

    def script(n: int, i: int) -> bytes | None:
        if i == 0:
            return OK
        done.wait(hold)
        return None

    up = Upstream(script)

    async def main() -> None:
        client = Http1Client()
        assert await _get(client, up.port) == b"ok"
        with pytest.raises(ServerDisconnected):
            await _get(client, up.port)
        client.close()

    try:
        asyncio.run(main())
    finally:
        up.close()
    assert up.connections == 1
    assert up.requests == 2
