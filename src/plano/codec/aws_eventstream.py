"""Sans-I/O codec for AWS binary event-stream frames (``application/vnd.amazon.eventstream``).

Bedrock ConverseStream answers with these frames. One frame (all integers big-endian)::

    total length   u32   whole frame, prelude and trailing CRC included
    headers length u32
    prelude CRC    u32   CRC-32 of the 8 bytes above
    headers        headers-length bytes: name-len u8, name (UTF-8), type u8, value
    payload        total - headers - 16 bytes
    message CRC    u32   CRC-32 of every byte before it

Header value types: 0 true, 1 false, 2 int8, 3 int16, 4 int32, 5 int64, 6 bytes (u16 length),
7 string (u16 length, UTF-8), 8 timestamp (int64 milliseconds), 9 UUID (16 bytes).

:class:`EventStreamDecoder` takes bytes split anywhere and returns the frames they complete.
It keeps only the bytes of the frame in progress (memory is bounded by the largest frame; there
is no size cap beyond the 32-bit length field) and checks both CRCs: corruption raises
:class:`EventStreamError`, after which the decoder refuses further input.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Final

__all__ = ["EventStreamDecoder", "EventStreamError", "Frame", "HeaderValue", "encode_frame"]

PRELUDE: Final = 12
_MIN_FRAME: Final = PRELUDE + 4
_U32: Final = struct.Struct(">I")
_PRELUDE: Final = struct.Struct(">III")

HeaderValue = bool | int | bytes | str | uuid.UUID


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A header of type 8: milliseconds since the epoch."""

    millis: int


@dataclass(frozen=True, slots=True)
class Frame:
    headers: dict[str, HeaderValue | Timestamp] = field(default_factory=dict)
    payload: bytes = b""

    def header(self, name: str) -> str | None:
        """A string header's value, or None when absent or not a string."""
        value = self.headers.get(name)
        return value if isinstance(value, str) else None


class EventStreamError(ValueError):
    """The bytes are not a valid event stream (bad CRC, bad length, bad header)."""


class EventStreamDecoder:
    """Incremental decoder: ``feed(chunk) -> [frames]``; ``pending`` = bytes of a partial frame."""

    __slots__ = ("_buf", "_failed", "_need")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need = 0  # total length of the frame in progress, once its prelude is checked
        self._failed = False

    @property
    def pending(self) -> int:
        """Bytes held for a frame not complete yet (0 at a frame boundary)."""
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        if self._failed:
            raise EventStreamError("event stream already failed")
        frames: list[Frame] = []
        view = memoryview(data)
        pos = 0
        end = len(view)
        try:
            while pos < end:
                pos = self._take(view, pos, frames)
        except EventStreamError:
            self._failed = True
            self._buf.clear()
            raise
        return frames

    def _take(self, view: memoryview, pos: int, frames: list[Frame]) -> int:
        """Consume bytes from `view[pos:]` toward the next frame; return the new position."""
        buf = self._buf
        if not self._need:
            want = PRELUDE - len(buf)
            piece = view[pos : pos + want]
            buf += piece
            pos += len(piece)
            if len(buf) < PRELUDE:
                return pos
            self._need = _check_prelude(bytes(buf))
        if not buf and len(view) - pos >= self._need:
            # Fast path: the whole frame sits in this chunk; no copy into the buffer.
            frame_end = pos + self._need
            frames.append(_frame(view[pos:frame_end]))
            self._need = 0
            return frame_end
        want = self._need - len(buf)
        piece = view[pos : pos + want]
        buf += piece
        pos += len(piece)
        if len(buf) == self._need:
            frames.append(_frame(memoryview(bytes(buf))))
            buf.clear()
            self._need = 0
        return pos


def _check_prelude(prelude: bytes) -> int:
    total, headers_len, crc = _PRELUDE.unpack_from(prelude)
    if zlib.crc32(prelude[:8]) != crc:
        raise EventStreamError("event stream prelude CRC mismatch")
    if total < _MIN_FRAME or headers_len > total - _MIN_FRAME:
        raise EventStreamError(f"event stream frame length {total} (headers {headers_len}) invalid")
    return int(total)


def _frame(raw: memoryview) -> Frame:
    """Check the message CRC of one whole frame and split it into headers and payload."""
    (crc,) = _U32.unpack_from(raw, len(raw) - 4)
    if zlib.crc32(raw[:-4]) != crc:
        raise EventStreamError("event stream message CRC mismatch")
    (headers_len,) = _U32.unpack_from(raw, 4)
    headers = _headers(raw[PRELUDE : PRELUDE + headers_len])
    return Frame(headers, bytes(raw[PRELUDE + headers_len : -4]))


_FIXED: Final = {2: struct.Struct(">b"), 3: struct.Struct(">h"), 4: struct.Struct(">i")}
_I64: Final = struct.Struct(">q")
_U16: Final = struct.Struct(">H")


def _headers(raw: memoryview) -> dict[str, HeaderValue | Timestamp]:
    out: dict[str, HeaderValue | Timestamp] = {}
    pos, end = 0, len(raw)
    try:
        while pos < end:
            n = raw[pos]
            name = bytes(raw[pos + 1 : pos + 1 + n]).decode("utf-8")
            pos += 1 + n
            kind = raw[pos]
            pos += 1
            value: HeaderValue | Timestamp
            if kind in (0, 1):
                value = kind == 0
            elif kind in _FIXED:
                fmt = _FIXED[kind]
                (value,) = fmt.unpack_from(raw, pos)
                pos += fmt.size
            elif kind in (5, 8):
                (num,) = _I64.unpack_from(raw, pos)
                value = num if kind == 5 else Timestamp(num)
                pos += 8
            elif kind in (6, 7):
                (size,) = _U16.unpack_from(raw, pos)
                data = bytes(raw[pos + 2 : pos + 2 + size])
                if len(data) != size:
                    raise EventStreamError("event stream header value runs past the headers")
                value = data.decode("utf-8") if kind == 7 else data
                pos += 2 + size
            elif kind == 9:
                value = uuid.UUID(bytes=bytes(raw[pos : pos + 16]))
                pos += 16
            else:
                raise EventStreamError(f"event stream header type {kind} unknown")
            out[name] = value
    except (IndexError, struct.error, UnicodeDecodeError, ValueError) as exc:
        if isinstance(exc, EventStreamError):
            raise
        raise EventStreamError(f"event stream headers malformed: {exc}") from None
    if pos != end:
        raise EventStreamError("event stream headers overrun their length")
    return out


def _encode_header(name: str, value: HeaderValue | Timestamp) -> bytes:
    raw_name = name.encode("utf-8")
    head = bytes([len(raw_name)]) + raw_name
    if isinstance(value, bool):
        return head + bytes([0 if value else 1])
    if isinstance(value, Timestamp):
        return head + b"\x08" + _I64.pack(value.millis)
    if isinstance(value, int):
        return head + b"\x05" + _I64.pack(value)
    if isinstance(value, uuid.UUID):
        return head + b"\x09" + value.bytes
    data, kind = (value.encode("utf-8"), b"\x07") if isinstance(value, str) else (value, b"\x06")
    return head + kind + _U16.pack(len(data)) + data


def encode_frame(headers: dict[str, HeaderValue | Timestamp], payload: bytes) -> bytes:
    """One frame. Integers are written as int64 (type 5); strings as type 7."""
    raw_headers = b"".join(_encode_header(k, v) for k, v in headers.items())
    total = PRELUDE + len(raw_headers) + len(payload) + 4
    prelude = _U32.pack(total) + _U32.pack(len(raw_headers))
    prelude += _U32.pack(zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + _U32.pack(zlib.crc32(body))
