"""Bare-ASGI plumbing shared by every listener: bodies in, bytes out, errors in dialect.

A request body is read into bytes with a size limit, and responses are sent as pre-encoded header
lists (the types are in `listeners.types`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from plano.errors import PayloadTooLarge, PlanoError
from plano.listeners.types import Message, RawHeaders, Receive, RequestIds, Scope, Send
from plano.observability.record import RequestRecord
from plano.wire import anthropic_messages, openai_chat

JSON_CT: Final = (b"content-type", b"application/json")


class ClientDisconnected(Exception):
    """The downstream client went away before we finished."""


def header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value  # type: ignore[no-any-return]
    return None


_REQUEST_ID: Final = b"x-request-id"


def client_request_id(scope: Scope, ids: RequestIds) -> str:
    """The client's `x-request-id`, else a new one."""
    found = header(scope, _REQUEST_ID)
    return found.decode("latin-1") if found else ids.new()


def tag_error(message: Message, scope: Scope, record: RequestRecord, ids: RequestIds) -> None:
    """An error answer's `http.response.start`: the request id (the record's, else the
    client's, else a new one, noted on the record for the access log) as `x-request-id`, unless
    the answer has one already."""
    rid = record.request_id
    if rid is None:
        rid = record.request_id = client_request_id(scope, ids)
    headers = message.get("headers") or []
    if not any(k.lower() == _REQUEST_ID for k, _ in headers):
        message["headers"] = [*headers, (_REQUEST_ID, rid.encode("latin-1"))]


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
