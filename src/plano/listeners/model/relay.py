"""What the model listener sends its client besides the upstream's head: a relayed event stream,
the usage it noted, and the error (or stream error event) when the upstream call failed."""

from __future__ import annotations

import asyncio
import time
from typing import Final

import aiohttp
import orjson

from plano.errors import PlanoError
from plano.listeners.asgi import RawHeaders, Receive, Send, send_error
from plano.listeners.model.translated import close_on_disconnect
from plano.observability.record import RequestRecord
from plano.observability.usage import StreamUsage
from plano.providers.catalogue import Api
from plano.upstream.stream_guard import StreamGuard
from plano.wire import anthropic_messages, openai_chat, openai_responses
from plano.wire.usage import usage_of

STREAM_ERROR: Final = {
    Api.OPENAI_CHAT: openai_chat.stream_error_event,
    Api.ANTHROPIC_MESSAGES: anthropic_messages.stream_error_event,
    Api.OPENAI_RESPONSES: openai_responses.stream_error_event,
}


async def relay_failure(
    send: Send,
    path: str,
    api: Api,
    err: PlanoError,
    record: RequestRecord,
    ours: RawHeaders,
    *,
    started: bool,
) -> None:
    """The upstream call failed: an error in the client's dialect, or (once a stream has
    started) its error event."""
    if record.error_kind != "client_gone":
        record.error_kind = "stream" if started else err.kind
    if not record.upstream_done:
        record.upstream_done = time.perf_counter_ns()
    if not started:
        await send_error(send, path, err, ours)
    else:
        await send({"type": "http.response.body", "body": STREAM_ERROR[api](err)})


def note_usage(record: RequestRecord, data: bytes) -> None:
    """The usage of a whole (non-streamed) answer in the OpenAI shape, when it has one."""
    try:
        usage = usage_of(orjson.loads(data))
    except orjson.JSONDecodeError:
        return
    if usage is not None:
        record.note_usage(usage.prompt, usage.completion, usage.cached)


async def relay_stream(
    resp: aiohttp.ClientResponse,
    receive: Receive,
    send: Send,
    record: RequestRecord,
    guard: StreamGuard | None = None,
) -> None:
    """Relay an event stream chunk by chunk; stop the upstream if the client leaves."""
    state = {"done": False}
    watcher = asyncio.ensure_future(close_on_disconnect(receive, resp, state, record))
    usage = StreamUsage()
    try:
        async for chunk in resp.content.iter_any() if guard is None else guard.chunks(resp):
            if not record.upstream_first_chunk:
                record.upstream_first_chunk = time.perf_counter_ns()
            usage.feed(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        record.upstream_done = time.perf_counter_ns()
        state["done"] = True
        await send({"type": "http.response.body", "body": b""})
    finally:
        state["done"] = True
        watcher.cancel()
        if (u := usage.usage) is not None:
            record.note_usage(u.prompt, u.completion, u.cached)
