"""The practical upper bound for a Python LLM gateway: a hand-rolled asyncio proxy.

One `asyncio.Protocol` per client connection on uvloop, httptools for HTTP/1.1 parsing, keep-alive,
orjson for JSON and a pooled aiohttp client upstream. For `POST /v1/chat/completions` it does the
work every gateway must do and nothing more: decode the JSON body, read and rewrite `model` (drop an
`openai/` prefix), add the upstream `Authorization` header, forward, and relay the answer. Streams
are relayed chunk by chunk as they arrive (chunked transfer encoding) while each SSE event's JSON is
decoded, as a gateway does to count tokens and time the first token.

    python bench/baseline_proxy.py --port 9100 --upstream http://127.0.0.1:9000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import Final, cast

import aiohttp
import httptools
import orjson
import uvloop

ROUTE: Final = b"/v1/chat/completions"
PREFIX: Final = "openai/"
DEFAULT_KEY: Final = "bench-key"


@dataclass(slots=True)
class Request:
    method: bytes = b""
    url: bytes = b""
    body: list[bytes] = field(default_factory=list)
    keep_alive: bool = True


def status_line(status: int, reason: str) -> bytes:
    return f"HTTP/1.1 {status} {reason}\r\n".encode("latin-1")


def simple_response(status: int, reason: str, payload: bytes, keep_alive: bool) -> bytes:
    conn = b"keep-alive" if keep_alive else b"close"
    return b"".join(
        (
            status_line(status, reason),
            b"content-type: application/json\r\ncontent-length: ",
            str(len(payload)).encode(),
            b"\r\nconnection: ",
            conn,
            b"\r\n\r\n",
            payload,
        )
    )


def error_body(message: str, kind: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind}})


class SseEvents:
    """Splits a byte stream into SSE events and decodes each event's JSON `data:`."""

    __slots__ = ("_buf", "events")

    def __init__(self) -> None:
        self._buf = b""
        self.events = 0

    def feed(self, chunk: bytes) -> None:
        buf = self._buf + chunk if self._buf else chunk
        start = 0
        while True:
            end = buf.find(b"\n\n", start)
            if end < 0:
                break
            self._event(buf[start:end])
            start = end + 2
        self._buf = buf[start:]

    def _event(self, raw: bytes) -> None:
        for line in raw.split(b"\n"):
            if line.startswith(b"data:"):
                data = line[5:].strip()
                if data and data != b"[DONE]":
                    orjson.loads(data)
                    self.events += 1


class Upstream:
    """The pooled upstream client shared by every connection."""

    def __init__(self, base_url: str, key: str) -> None:
        self.url = base_url.rstrip("/") + "/v1/chat/completions"
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {key}"}
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0)
        self.session = aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()


class ProxyProtocol(asyncio.Protocol):
    """One client connection: parse requests, answer them one at a time, in order."""

    def __init__(self, upstream: Upstream) -> None:
        self._upstream = upstream
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._current = Request()
        self._pending: deque[Request] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False

    # -- transport callbacks -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport; they implement its interface.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._writable.set()
        if self._worker is not None:
            self._worker.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError:
            self._write(simple_response(400, "Bad Request", error_body("bad request", "x"), False))
            self._close()

    def pause_writing(self) -> None:
        self._writable.clear()

    def resume_writing(self) -> None:
        self._writable.set()

    # -- httptools callbacks -------------------------------------------------------------
    def on_message_begin(self) -> None:
        self._current = Request()

    def on_url(self, url: bytes) -> None:
        self._current.url += url

    def on_body(self, body: bytes) -> None:
        self._current.body.append(body)

    def on_message_complete(self) -> None:
        req = self._current
        req.method = self._parser.get_method()
        req.keep_alive = self._parser.should_keep_alive()
        self._pending.append(req)
        if self._worker is None:
            self._worker = asyncio.get_running_loop().create_task(self._serve())

    # -- request handling ----------------------------------------------------------------
    async def _serve(self) -> None:
        try:
            while self._pending and not self._closed:
                req = self._pending.popleft()
                await self._handle(req)
                if not req.keep_alive:
                    self._close()
                    return
        finally:
            self._worker = None

    async def _handle(self, req: Request) -> None:
        if req.url.split(b"?", 1)[0] != ROUTE or req.method != b"POST":
            payload = error_body("not found", "not_found_error")
            self._write(simple_response(404, "Not Found", payload, req.keep_alive))
            return
        try:
            body = orjson.loads(b"".join(req.body))
            model = body.get("model")
            if not isinstance(model, str):
                raise ValueError("model missing")
        except (orjson.JSONDecodeError, ValueError, AttributeError):
            payload = error_body("invalid body", "invalid_request_error")
            self._write(simple_response(400, "Bad Request", payload, req.keep_alive))
            return
        body["model"] = model.removeprefix(PREFIX)
        await self._forward(orjson.dumps(body), req.keep_alive)

    async def _forward(self, data: bytes, keep_alive: bool) -> None:
        upstream = self._upstream
        assert upstream.session is not None
        try:
            async with upstream.session.post(
                upstream.url, data=data, headers=upstream.headers
            ) as resp:
                ctype = resp.headers.get("content-type", "application/json")
                if ctype.startswith("text/event-stream"):
                    await self._relay_stream(resp, ctype, keep_alive)
                else:
                    payload = await resp.read()
                    self._write(self._head(resp, ctype, keep_alive, len(payload)) + payload)
        except (aiohttp.ClientError, TimeoutError) as exc:
            payload = error_body(f"upstream failed: {exc.__class__.__name__}", "api_error")
            self._write(simple_response(502, "Bad Gateway", payload, keep_alive))

    def _head(
        self, resp: aiohttp.ClientResponse, ctype: str, keep_alive: bool, length: int | None
    ) -> bytes:
        if length is None:
            framing = b"transfer-encoding: chunked"
        else:
            framing = b"content-length: %d" % length
        return b"".join(
            (
                status_line(resp.status, resp.reason or "OK"),
                b"content-type: ",
                ctype.encode("latin-1"),
                b"\r\n",
                framing,
                b"\r\nconnection: ",
                b"keep-alive" if keep_alive else b"close",
                b"\r\n\r\n",
            )
        )

    async def _relay_stream(
        self, resp: aiohttp.ClientResponse, ctype: str, keep_alive: bool
    ) -> None:
        self._write(self._head(resp, ctype, keep_alive, None))
        events = SseEvents()
        async for chunk in resp.content.iter_any():
            events.feed(chunk)
            self._write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            if not self._writable.is_set():
                await self._writable.wait()
            if self._closed:
                return
        self._write(b"0\r\n\r\n")

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._closed:
            self._transport.write(data)

    def _close(self) -> None:
        self._closed = True
        if self._transport is not None:
            self._transport.close()


async def serve(host: str, port: int, upstream_url: str, key: str) -> None:
    upstream = Upstream(upstream_url, key)
    await upstream.start()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: ProxyProtocol(upstream), host, port, reuse_address=True, backlog=1024
    )
    print(f"baseline proxy ready on http://{host}:{port} -> {upstream.url}", flush=True)
    try:
        await server.serve_forever()
    finally:
        await upstream.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="e.g. http://127.0.0.1:9000")
    parser.add_argument("--key", default=DEFAULT_KEY, help="upstream bearer key")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(args.host, args.port, args.upstream, args.key))


if __name__ == "__main__":
    main()
