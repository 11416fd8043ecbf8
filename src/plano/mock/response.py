"""A reply as data, and its HTTP/1.1 bytes (Content-Length, or chunked for streams)."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

JSON: Final = "application/json"
EVENT_STREAM: Final = "text/event-stream; charset=utf-8"
LAST_CHUNK: Final = b"0\r\n\r\n"


@dataclass(slots=True)
class Reply:
    """A response before framing. ``events`` set means a streamed reply: one HTTP chunk each."""

    status: int = 200
    body: bytes = b""
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()
    events: list[bytes] | None = None
    stream_error: bytes | None = None  # the API's in-stream error event (``error_event`` fault)


def _status_line(status: int) -> bytes:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    return f"HTTP/1.1 {status} {phrase}\r\n".encode()


_STATUS_LINES: Final = {s.value: _status_line(s.value) for s in HTTPStatus}
_CT: Final = {JSON: b"content-type: application/json\r\n"}


def default_message(status: int) -> str:
    """The error message of a scripted status without ``message``: ``mock 429: Too Many ...``."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return f"mock {status}: {phrase}"


def head(reply: Reply, *, keep_alive: bool) -> bytes:
    """Status line and headers; ``transfer-encoding: chunked`` when streamed."""
    status = _STATUS_LINES.get(reply.status) or _status_line(reply.status)
    parts = [status]
    extra = reply.headers
    if not extra or all(name.lower() != "content-type" for name, _ in extra):
        ctype = reply.content_type
        parts.append(_CT.get(ctype) or f"content-type: {ctype}\r\n".encode())
    for name, value in extra:
        parts.append(f"{name}: {value}\r\n".encode("latin-1", "replace"))
    if reply.events is None:
        parts.append(b"content-length: %d\r\n" % len(reply.body))
    else:
        parts.append(b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\n")
    if not keep_alive:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk (``data`` must not be empty: that is the last chunk)."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def encode(reply: Reply, *, keep_alive: bool) -> bytes:
    """The whole response in one buffer, for replies sent in a single write."""
    if reply.events is None:
        if reply.status == 200 and not reply.headers and reply.content_type == JSON:
            ka = b"" if keep_alive else b"connection: close\r\n"
            return _OK_JSON % (len(reply.body), ka) + reply.body
        return head(reply, keep_alive=keep_alive) + reply.body
    frames = [chunk(ev) for ev in reply.events if ev]
    return b"".join([head(reply, keep_alive=keep_alive), *frames, LAST_CHUNK])


_OK_JSON: Final = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%b\r\n"
)
