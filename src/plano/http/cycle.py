"""One request/response cycle of `HttpConnection`: the ASGI `receive` and `send` callables.

`receive` hands the request body over as it arrives (`http.request` messages; reading resumes as
the app consumes it) and then `http.disconnect`, once the client is gone or the response is
complete. `send` frames the response: the app's `content-length` as given, otherwise chunked
(HTTP/1.1) or close-delimited (HTTP/1.0); no body after HEAD, 1xx, 204 and 304. Header bytes
are trusted (no per-header validation) except for CR and LF, which are refused by counting them
over the whole header block once: two C-level scans per response, not one per value.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Final, Protocol

if TYPE_CHECKING:
    import asyncio


class Draining(Protocol):
    @property
    def draining(self) -> bool: ...


class HttpConnection(Protocol):
    """What a cycle needs of its connection (`connection.HttpConnection`)."""

    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...

    @property
    def transport(self) -> asyncio.Transport: ...

    @property
    def shared(self) -> Draining: ...

    @property
    def closed(self) -> bool: ...

    @property
    def read_paused(self) -> bool: ...

    @property
    def write_paused(self) -> bool: ...

    def flow(self) -> None: ...

    async def writable(self) -> None: ...

    def close(self, *, linger: bool = False) -> None: ...


Message = MutableMapping[str, Any]

_LENGTH, _CHUNKED, _UNTIL_CLOSE, _NO_BODY = 0, 1, 2, 3
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_CLOSE: Final = b"connection: close\r\n"
_KEEP_ALIVE: Final = b"connection: keep-alive\r\n"
_TE_CHUNKED: Final = b"transfer-encoding: chunked\r\n"
_LAST_CHUNK: Final = b"0\r\n\r\n"
_FRAMING: Final = frozenset((b"content-length", b"transfer-encoding", b"connection"))
_COPY_LIMIT: Final = 16 * 1024  # smaller bodies are joined to their head; larger go by writelines


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return b"HTTP/1.1 %d %s\r\n" % (status, phrase.encode("latin-1"))


_STATUS_LINES: Final = {s.value: _status_line(s.value) for s in HTTPStatus}


# What the HTTP layer answers by itself: status -> (error type, code, message). Framing errors are
# the client's (a client-error type, 501 included); 500 is ours; 503 is the connection limit.
_ERRORS: Final = {
    400: (
        "invalid_request_error",
        "malformed_request",
        "the request is not valid HTTP/1.1 (request line, header fields or body framing)",
    ),
    408: ("invalid_request_error", "request_timeout", "the request did not arrive in time"),
    414: ("invalid_request_error", "uri_too_long", "the request target is too long"),
    431: ("invalid_request_error", "headers_too_large", "the request header fields are too large"),
    500: ("server_error", "internal_error", "the server failed to answer the request"),
    501: (
        "invalid_request_error",
        "unsupported_framing",
        "this request framing is not supported: a Transfer-Encoding other than chunked,"
        " or an upgrade with a body",
    ),
    503: ("overloaded", "overloaded", "the server is at its connection limit; retry later"),
}
_RETRY_AFTER: Final = b"retry-after: 1\r\n"
_ERROR_RESPONSES: dict[int, bytes] = {}


def _error_response(status: int) -> bytes:
    kind, code, message = _ERRORS.get(
        status,
        ("server_error" if status >= 500 else "invalid_request_error", "http_error", ""),
    )
    error = {"message": message or HTTPStatus(status).phrase, "type": kind, "param": None}
    error["code"] = code
    body = json.dumps({"error": error}, separators=(",", ":")).encode()
    extra = _RETRY_AFTER if status == 503 else b""
    return b"%scontent-type: application/json\r\ncontent-length: %d\r\n%s%s\r\n%s" % (
        _STATUS_LINES[status],
        len(body),
        extra,
        _CLOSE,
        body,
    )


def error_response(status: int) -> bytes:
    """A complete `connection: close` response with a small OpenAI-style JSON error body:
    `{"error": {"message", "type", "param", "code"}}`; `type` is `invalid_request_error` for
    what the client got wrong, `server_error` for 500, `overloaded` for the connection limit."""
    found = _ERROR_RESPONSES.get(status)
    if found is None:
        found = _ERROR_RESPONSES[status] = _error_response(status)
    return found


class Cycle:
    """The state of one request: its scope, its unread body, its response's framing."""

    __slots__ = (
        "abort_status",
        "body",
        "body_done",
        "body_given",
        "buffered",
        "complete",
        "conn",
        "disconnected",
        "expect_100",
        "head_only",
        "http10",
        "keep_alive",
        "mode",
        "pending_head",
        "remaining",
        "scope",
        "started",
        "waiter",
    )

    def __init__(
        self,
        conn: HttpConnection,
        scope: dict[str, Any],
        keep_alive: bool,
        http10: bool,
        head_only: bool,
    ) -> None:
        self.conn = conn
        self.scope = scope
        self.keep_alive = keep_alive
        self.http10 = http10
        self.head_only = head_only
        self.expect_100 = False
        self.body: list[bytes] = []
        self.buffered = 0
        self.body_done = False  # the request body has fully arrived
        self.body_given = False  # ...and has been handed to the app
        self.disconnected = False
        self.waiter: asyncio.Future[None] | None = None
        self.started = False
        self.complete = False
        self.mode = _LENGTH
        self.remaining = 0
        self.pending_head: bytes | None = None
        # The request broke before its body was complete (bad framing, a body timeout): the
        # status the connection answers if the app returns without starting a response.
        self.abort_status: int | None = None

    # -- called by the connection ----------------------------------------------------------
    def feed(self, data: bytes) -> None:
        if self.complete:
            return  # the response is done: the rest of this body is read and dropped
        self.body.append(data)
        self.buffered += len(data)
        self._wake()

    def end_of_body(self) -> None:
        self.body_done = True
        self._wake()

    def disconnect(self) -> None:
        self.disconnected = True
        self._wake()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- ASGI receive ----------------------------------------------------------------------
    async def receive(self) -> Message:
        if self.expect_100:
            self.expect_100 = False
            if not (self.started or self.body_done or self.conn.closed):
                self.conn.transport.write(_CONTINUE)
        if not (self.body_given or self.complete):
            if not (self.body or self.body_done or self.disconnected):
                await self._wait()
            if self.body or self.body_done:
                return self._take_body()
        elif not (self.complete or self.disconnected):
            await self._wait()
        return {"type": "http.disconnect"}

    async def _wait(self) -> None:
        self.waiter = self.conn.loop.create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    def _take_body(self) -> Message:
        chunks = self.body
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self.buffered = 0
        if self.conn.read_paused:
            self.conn.flow()
        more = not self.body_done
        self.body_given = not more
        return {"type": "http.request", "body": data, "more_body": more}

    # -- ASGI send -------------------------------------------------------------------------
    async def send(self, message: Message) -> None:
        conn = self.conn
        if conn.closed:
            return  # the client is gone (or the connection was closed): drop silently
        kind = message["type"]
        if kind == "http.response.body":
            if not self.started or self.complete:
                raise RuntimeError("http.response.body outside of a started response")
            self._body(message.get("body", b""), message.get("more_body", False))
        elif kind == "http.response.start":
            if self.started:
                raise RuntimeError("http.response.start sent twice")
            self._start(message["status"], message.get("headers", ()))
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r}")
        if conn.write_paused and not conn.closed:
            await conn.writable()

    def _start(self, status: int, headers: Any) -> None:
        parts = [_STATUS_LINES.get(status) or _status_line(status)]
        length: int | None = None
        keep_alive = self.keep_alive
        for name, value in headers:
            lname = name.lower()
            if lname in _FRAMING:
                if lname == b"content-length":
                    length = int(value)
                    if length < 0:
                        raise ValueError("negative content-length")
                elif lname == b"connection":
                    keep_alive = keep_alive and b"close" not in value.lower()
                    continue
                else:
                    continue  # transfer-encoding: the framing is ours
            parts += (name, b": ", value, b"\r\n")
        block = b"".join(parts)
        lines = len(parts) // 4 + 1  # the status line, then four parts per header
        if block.count(b"\n") != lines or block.count(b"\r") != lines:
            raise ValueError("CR or LF inside a response header name or value")
        if self.head_only or status < 200 or status in (204, 304):
            mode = _NO_BODY
        elif length is not None:
            mode = _LENGTH
            self.remaining = length
        elif self.http10:
            mode = _UNTIL_CLOSE
            keep_alive = False
        else:
            mode = _CHUNKED
            block += _TE_CHUNKED
        if (self.expect_100 and not self.body_done) or self.conn.shared.draining:
            keep_alive = False  # a client still waiting for `100 Continue` may never send it
        if not keep_alive:
            block += _CLOSE
        elif self.http10:
            block += _KEEP_ALIVE
        self.pending_head = block + b"\r\n"
        self.mode = mode
        self.keep_alive = keep_alive
        self.started = True
        if mode in (_CHUNKED, _UNTIL_CLOSE):  # a stream: headers go out this iteration
            self.conn.loop.call_soon(self._flush_head)

    def _flush_head(self) -> None:
        head = self.pending_head
        if head is not None and not self.conn.closed:
            self.pending_head = None
            self.conn.transport.write(head)

    def _body(self, body: bytes, more: bool) -> None:
        mode = self.mode
        head = self.pending_head
        if mode == _LENGTH and head is not None:  # the common case: a whole response at once
            self.pending_head = None
            self.remaining -= len(body)
            if self.remaining < 0:
                raise RuntimeError("response body longer than its content-length")
            if len(body) <= _COPY_LIMIT:
                self.conn.transport.write(head + body)
            else:
                self.conn.transport.writelines((head, body))
            if not more:
                self._finish()
            return
        parts: list[bytes]
        if mode == _CHUNKED:
            parts = [b"%x\r\n" % len(body), body, b"\r\n"] if body else []
            if not more:
                parts.append(_LAST_CHUNK)
        elif mode == _NO_BODY:
            parts = []
        else:
            if mode == _LENGTH:
                self.remaining -= len(body)
                if self.remaining < 0:
                    raise RuntimeError("response body longer than its content-length")
            parts = [body] if body else []
        if head is not None:
            self.pending_head = None
            parts.insert(0, head)
        transport = self.conn.transport
        if len(parts) == 1:
            transport.write(parts[0])
        elif parts:
            if len(body) <= _COPY_LIMIT:
                transport.write(b"".join(parts))
            else:
                transport.writelines(parts)
        if not more:
            self._finish()

    def _finish(self) -> None:
        self.complete = True
        if self.mode == _LENGTH and self.remaining > 0:
            self.keep_alive = False  # short body: only a close tells the client
        if not self.body_done:
            self.body.clear()  # stop buffering; the rest of the body is read and dropped
            self.buffered = 0
            if self.conn.read_paused:
                self.conn.flow()
        self._wake()
        if not self.keep_alive or self.mode == _UNTIL_CLOSE:
            self.conn.close(linger=not self.body_done)
