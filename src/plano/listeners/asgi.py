"""Bare-ASGI plumbing shared by every listener: bodies in, bytes out, errors in dialect.

A request body is read into bytes with a size limit, and responses are sent as pre-encoded header
lists (the types are in `listeners.types`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from plano.errors import PayloadTooLarge, PlanoError
from plano.listeners.types import RawHeaders, Receive, Scope, Send
from plano.wire import anthropic_messages, openai_chat

JSON_CT: Final = (b"content-type", b"application/json")


class ClientDisconnected(Exception):
    """The downstream client went away before we finished."""


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refusing more than `limit` bytes with 413."""
    declared = header(scope, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes"
        )
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientDisconnected
    body: bytes = message.get("body", b"")
    if not message.get("more_body"):
        if len(body) > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        return body
    parts = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
        parts.append(chunk)
        if not message.get("more_body"):
            return b"".join(parts)


async def send_bytes(send: Send, status: int, headers: RawHeaders, body: bytes) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def envelope_for(path: str) -> Callable[[PlanoError], bytes]:
    """The error envelope of the client's dialect, chosen by the API path it called."""
    if path.endswith(anthropic_messages.PATH):
        return anthropic_messages.error_envelope
    return openai_chat.error_envelope


async def send_error(
    send: Send, path: str, err: PlanoError, extra: RawHeaders | None = None
) -> None:
    headers: RawHeaders = [JSON_CT]
    headers.extend((k.encode(), v.encode()) for k, v in err.headers)
    if extra:
        headers.extend(extra)
    await send_bytes(send, err.status, headers, envelope_for(path)(err))
