"""The Transport seam: LeanTransport against real sockets on 127.0.0.1 (every failure mapped onto
`plano.errors`, pooling on release), and MockTransport."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from plano.errors import (
    PlanoError,
    UpstreamBodyBroken,
    UpstreamConnectFailed,
    UpstreamProtocolError,
    UpstreamReset,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from plano.upstream.lean import LeanTransport
from plano.upstream.mock_transport import MockReply, MockRequest, MockTransport
from plano.upstream.transport import Limits, Transport, UpstreamResponse, exchange

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]

OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
OK += b"Content-Length: 2\r\n\r\n{}"
SECRET_URL = "http://user:pw@127.0.0.1:{port}/v1?key=sk-secret"


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    return head + await reader.readexactly(length)


class Served:
    """A loopback server counting its connections; every handler is awaited and its socket
    closed before the test's loop ends."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.tasks: list[asyncio.Task[None]] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.accepted = 0

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.tasks.append(asyncio.current_task())  # type: ignore[arg-type]
        try:
            await self._handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> Served:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        await asyncio.gather(*self.tasks)


@contextlib.asynccontextmanager
async def lean() -> AsyncIterator[LeanTransport]:
    transport = LeanTransport()
    await transport.start()
    try:
        yield transport
    finally:
        await transport.close()


async def until_dropped(reader: asyncio.StreamReader) -> None:
    """Hold the connection until the client drops it."""
    while await reader.read(1024):
        pass


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_lean_and_mock_satisfy_the_protocol() -> None:
    async def scenario() -> None:
        async def handler(request: MockRequest) -> MockReply:
            return MockReply()

        transports: list[Transport] = [LeanTransport(), MockTransport(handler)]
        assert len(transports) == 2

    run(scenario())


# -- LeanTransport: the answers ---------------------------------------------------------------


def test_response_head_body_and_headers() -> None:
    async def scenario() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(OK)
            await until_dropped(reader)

        async with (
            Served(handler) as served,
            lean() as t,
            exchange(t, b"POST", served.url, [("x-a", "1")], b"{}") as resp,
        ):
            assert resp.status == 200
            assert resp.content_type == "application/json"
            assert resp.header("CONTENT-LENGTH") == "2"
            assert resp.header("x-missing") is None
            assert (b"Content-Length", b"2") in resp.raw_headers
            assert resp.body is None
            assert await resp.read() == b"{}"
            assert await resp.read() == b"{}"
            assert resp.body == b"{}"

    run(scenario())


def test_release_pools_a_fully_read_connection_and_closes_a_half_read_one() -> None:
    async def scenario() -> None:
        big = b"x" * 100_000
        half_read_closed = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            while True:
                request = await read_request(reader)
                if b"/half" in request.split(b"\r\n", 1)[0]:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (len(big) * 4))
                    writer.write(big)
                    await until_dropped(reader)
                    half_read_closed.set()
                    return
                writer.write(OK)

        async with Served(handler) as served, lean() as t:
            for _ in range(3):
                async with exchange(t, b"POST", served.url, [], b"{}") as resp:
                    assert await resp.read() == b"{}"
            assert served.accepted == 1  # one connection, reused
            resp = await t.send(b"POST", served.url + "/half", [], b"")
            first = await anext(aiter(resp.chunks()))
            assert first
            resp.release()
            resp.release()  # idempotent
            await half_read_closed.wait()  # the half-read connection was closed, not pooled
            async with exchange(t, b"POST", served.url, [], b"{}") as resp:
                assert await resp.read() == b"{}"
            assert served.accepted == 2

    run(scenario())


def test_chunked_body_arrives_in_order() -> None:
    async def scenario() -> None:
        go_on = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
            await go_on.wait()
            writer.write(b"6\r\n world\r\n0\r\n\r\n")
            await until_dropped(reader)

        async with (
            Served(handler) as served,
            lean() as t,
            exchange(t, b"POST", served.url, [], b"") as resp,
        ):
            got = []
            async for chunk in resp.chunks():
                got.append(chunk)
                go_on.set()
            assert b"".join(got) == b"hello world"

    run(scenario())


# -- LeanTransport: every failure, mapped once ------------------------------------------------


def test_connection_refused_is_connect_failed() -> None:
    async def scenario() -> None:
        port = closed_port()
        async with lean() as t:
            with pytest.raises(UpstreamConnectFailed) as caught:
                await t.send(b"POST", SECRET_URL.format(port=port), [], b"")
        message = str(caught.value)
        assert message.startswith("could not connect to upstream")
        assert f"127.0.0.1:{port}" in message
        assert "sk-secret" not in message and "pw" not in message
        assert isinstance(caught.value, UpstreamUnavailable)  # telemetry labels unchanged
        assert caught.value.kind == "connect" and caught.value.status == 502

    run(scenario())


def test_unresolvable_host_is_connect_failed() -> None:
    async def scenario() -> None:
        async with lean() as t:
            with pytest.raises(UpstreamConnectFailed):
                await t.send(b"GET", "http://no-such-host.invalid/", [], b"")

    run(scenario())


def test_server_closing_before_the_head_is_a_reset() -> None:
    async def scenario() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)  # and close unanswered

        async with Served(handler) as served, lean() as t:
            with pytest.raises(UpstreamReset) as caught:
                await t.send(b"POST", SECRET_URL.format(port=served.port), [], b"{}")
        assert "sk-secret" not in str(caught.value)

    run(scenario())


def _cut_after(head_and_part: bytes) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(head_and_part)
        await writer.drain()  # then close mid-body

    return handler


CUT_BODIES = {
    "content-length": b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12345",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n",
}


@pytest.mark.parametrize("framing", sorted(CUT_BODIES))
def test_closed_mid_body_is_body_broken_from_read(framing: str) -> None:
    async def scenario() -> None:
        async with (
            Served(_cut_after(CUT_BODIES[framing])) as served,
            lean() as t,
            exchange(t, b"POST", served.url, [], b"") as resp,
        ):
            assert resp.status == 200
            with pytest.raises(UpstreamBodyBroken):
                await resp.read()

    run(scenario())


@pytest.mark.parametrize("framing", sorted(CUT_BODIES))
def test_closed_mid_body_is_body_broken_from_chunks(framing: str) -> None:
    async def scenario() -> bytes:
        got = b""
        async with (
            Served(_cut_after(CUT_BODIES[framing])) as served,
            lean() as t,
            exchange(t, b"POST", served.url, [], b"") as resp,
        ):
            with pytest.raises(UpstreamBodyBroken):
                async for chunk in resp.chunks():
                    got += chunk
        return got

    assert run(scenario()) == b"12345"


def test_total_timeout_before_the_head() -> None:
    async def scenario() -> None:
        dropped = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            await until_dropped(reader)  # never answers
            dropped.set()

        async with Served(handler) as served, lean() as t:
            with pytest.raises(UpstreamTimeout) as caught:
                await t.send(b"POST", served.url, [], b"", Limits(total=0.05))
            await dropped.wait()
        assert caught.value.phase == "total"
        assert caught.value.status == 504 and caught.value.kind == "timeout"

    run(scenario())


def test_total_timeout_mid_body() -> None:
    async def scenario() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12")
            await until_dropped(reader)

        async with (
            Served(handler) as served,
            lean() as t,
            exchange(t, b"POST", served.url, [], b"", Limits(total=0.05)) as resp,
        ):
            with pytest.raises(UpstreamTimeout) as caught:
                await resp.read()
        assert caught.value.phase == "total"

    run(scenario())


def test_read_silence_is_a_read_timeout() -> None:
    async def scenario() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12")
            await until_dropped(reader)

        async with (
            Served(handler) as served,
            lean() as t,
            exchange(t, b"POST", served.url, [], b"", Limits(read=0.05)) as resp,
        ):
            with pytest.raises(UpstreamTimeout) as caught:
                async for _ in resp.chunks():
                    pass
        assert caught.value.phase == "read"

    run(scenario())


def test_garbage_response_is_a_protocol_error() -> None:
    async def scenario() -> None:
        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            await until_dropped(reader)

        async with Served(handler) as served, lean() as t:
            with pytest.raises(UpstreamProtocolError):
                await t.send(b"POST", served.url, [], b"")

    run(scenario())


def test_abort_wakes_a_waiting_reader_with_body_broken() -> None:
    async def scenario() -> None:
        head_sent = asyncio.Event()
        dropped = asyncio.Event()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
            head_sent.set()
            await until_dropped(reader)
            dropped.set()

        async with Served(handler) as served, lean() as t:
            async with exchange(t, b"POST", served.url, [], b"") as resp:
                reading = asyncio.ensure_future(resp.read())
                await asyncio.sleep(0)  # the reader is waiting for the body
                resp.abort()
                with pytest.raises(UpstreamBodyBroken):
                    await reading
            await dropped.wait()

    run(scenario())


def test_only_plano_errors_after_send() -> None:
    """Every failure path above raised a PlanoError subclass; a closed transport does too."""

    async def scenario() -> None:
        t = LeanTransport()
        with pytest.raises(PlanoError):
            await t.send(b"GET", "http://127.0.0.1:9/", [], b"")

    run(scenario())


# -- MockTransport ----------------------------------------------------------------------------


def test_mock_records_requests_and_released_responses() -> None:
    async def scenario() -> MockTransport:
        async def handler(request: MockRequest) -> MockReply:
            assert request.header("X-A") == "1"
            return MockReply(status=201, headers=[("Content-Type", "text/plain")], body=b"hi")

        mock = MockTransport(handler)
        async with exchange(mock, b"POST", "http://up/v1", [("x-a", "1")], b"{}") as resp:
            assert resp.status == 201
            assert resp.content_type == "text/plain"
            assert await resp.read() == b"hi"
            assert await resp.read() == b"hi"
        return mock

    mock = run(scenario())
    assert [(r.method, r.url, r.body) for r in mock.requests] == [(b"POST", "http://up/v1", b"{}")]
    assert mock.unreleased == []
    assert mock.responses[0].finished and not mock.responses[0].aborted


def test_mock_handler_errors_simulate_failures_before_the_head() -> None:
    async def scenario() -> None:
        async def handler(request: MockRequest) -> MockReply:
            raise UpstreamConnectFailed("could not connect to upstream up:80: refused")

        mock = MockTransport(handler)
        with pytest.raises(UpstreamConnectFailed):
            await mock.send(b"POST", "http://up/v1", [], b"")
        assert mock.responses == []

    run(scenario())


def test_mock_scripted_chunks_break_mid_body() -> None:
    async def scenario() -> list[bytes]:
        async def handler(request: MockRequest) -> MockReply:
            return MockReply(chunks=[b"a", b"b", ConnectionResetError(), b"never"])

        mock = MockTransport(handler)
        got: list[bytes] = []
        async with exchange(mock, b"POST", "http://up/v1", [], b"") as resp:
            with pytest.raises(UpstreamBodyBroken):
                async for chunk in resp.chunks():
                    got.append(chunk)
        assert mock.unreleased == []
        assert not mock.responses[0].finished
        return got

    assert run(scenario()) == [b"a", b"b"]


def test_mock_async_chunks_and_abort() -> None:
    async def scenario() -> None:
        second = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield b"first"
            await second.wait()  # held until the test says so; abort comes first
            yield b"second"

        async def handler(request: MockRequest) -> MockReply:
            return MockReply(headers=[("content-type", "text/event-stream")], chunks=body())

        mock = MockTransport(handler)
        resp: UpstreamResponse = await mock.send(b"POST", "http://up/v1", [], b"")
        chunks = resp.chunks()
        assert await anext(chunks) == b"first"
        pending = asyncio.ensure_future(anext(chunks))
        await asyncio.sleep(0)
        resp.abort()
        with pytest.raises(UpstreamBodyBroken):
            await pending
        resp.release()
        assert mock.responses[0].aborted and mock.unreleased == []

    run(scenario())
