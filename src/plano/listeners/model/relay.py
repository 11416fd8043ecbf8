"""Relay: the committed upstream answer to the client, as it arrives.

Passthrough (client and upstream speak the same API): the upstream's status, headers and body
bytes, a whole body with its length, an event stream chunk by chunk (through the output filter
chain when one is configured, and the provider's stream guard). Translated: decoded with the
upstream codec, encoded with the client's (`translated`). Usage is noted from what passes by;
a stream that fails once started is continued on a fallback (`continuation`) or ends with the
dialect's error event after a whole event (`stream_cut`), also when the request is cancelled.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Final

import orjson

from plano.codec.sse_scan import SseSplitter
from plano.errors import PlanoError
from plano.filters.chain import Chain
from plano.listeners.asgi import send_bytes
from plano.listeners.model.build import NOT_RELAYED
from plano.listeners.model.call import ModelCall
from plano.listeners.model.continuation import (
    Continuation,
    Kept,
    UpstreamStreamError,
    split_error_event,
)
from plano.listeners.model.filtered import filter_headers
from plano.listeners.model.stream_cut import (
    DRAINED,
    StreamDrained,
    cut_kind,
    end_cancelled,
    end_with,
)
from plano.listeners.model.stream_usage import injects_usage, strip_usage
from plano.listeners.model.translated import (
    TranslatedExchange,
    close_on_disconnect,
    overhead_header,
    target_of,
)
from plano.listeners.pipeline import Outcome, Stage
from plano.listeners.types import RawHeaders
from plano.observability import genai
from plano.observability.genai import sampled
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from plano.observability.usage import StreamUsage
from plano.providers.catalogue import Api
from plano.upstream.request import Committed
from plano.upstream.stream_guard import StreamGuard
from plano.upstream.transport import UpstreamResponse
from plano.wire import anthropic_messages, openai_chat, openai_responses
from plano.wire.usage import usage_of

STREAM_ERROR: Final = {
    Api.OPENAI_CHAT: openai_chat.stream_error_event,
    Api.ANTHROPIC_MESSAGES: anthropic_messages.stream_error_event,
    Api.OPENAI_RESPONSES: openai_responses.stream_error_event,
}
_SSE: Final = "text/event-stream"


class Relay(Stage[ModelCall]):
    """The committed answer to the client (the last stage that sends)."""

    def __init__(
        self,
        telemetry: Telemetry,
        translated: TranslatedExchange,
        output: Chain | None,
        continuation: Continuation | None = None,
    ) -> None:
        self._telemetry = telemetry
        self._translated = translated
        self.output = output
        self._continuation = continuation

    async def __call__(self, call: ModelCall) -> Outcome:
        committed = call.committed
        assert committed is not None
        resp, up = committed.resp, committed.up
        record = call.record
        record.upstream_headers = time.perf_counter_ns()
        record.upstream_status = resp.status
        if sampled(record):
            genai.note_request(record, call.doc)
        ours = call.ours()
        if up.translation is not None:  # decoded and encoded again for the client
            target = target_of(up, ours, call.path)
            await self._translated.relay(call, committed, target, self._continuation)
            return None
        headers = [(name, v) for k, v in resp.raw_headers if (name := k.lower()) not in NOT_RELAYED]
        headers.extend(ours)
        if resp.status >= 400:
            record.error_kind = "upstream_status"
        if resp.status < 300 and resp.content_type == _SSE:
            await self._stream(call, committed, headers)
        else:
            await self._whole(call, resp, headers)
        return None

    async def _whole(self, call: ModelCall, resp: UpstreamResponse, headers: RawHeaders) -> None:
        record = call.record
        data = await resp.read()
        record.upstream_done = time.perf_counter_ns()
        if resp.status < 300:
            if self.output is not None:
                data = await self.output.run(
                    data, call.path, filter_headers(record), ctx=call.filter_context()
                )
            if sampled(record):
                note_whole(record, data)
            elif b'"usage"' in data:
                note_usage(record, data)
        headers.append(overhead_header(record, record.upstream_done))
        await send_bytes(call.send, resp.status, headers, data)

    async def _stream(self, call: ModelCall, committed: Committed, headers: RawHeaders) -> None:
        record = call.record
        headers.append(overhead_header(record, record.upstream_headers))
        self._telemetry.stream_started(record)
        send = call.send
        await send(
            {"type": "http.response.start", "status": committed.resp.status, "headers": headers}
        )
        cont = self._continuation
        kept = (
            Kept()
            if cont is not None and self.output is None and cont.wanted(call, committed.up)
            else None
        )
        try:
            if self.output is None:
                strip = injects_usage(call.api, call.stream, call.doc)
                await relay_stream(call, committed.resp, committed.guard, kept, strip)
            else:
                await self._filtered(call, committed.resp, self.output)
        except PlanoError as err:  # the stream has started: continued, or its error event ends it
            committed.resp.abort()  # never hand a broken connection back to the pool
            if (
                kept is not None
                and record.error_kind != "client_gone"
                and cut_kind(err) == "stream"
            ):
                assert cont is not None
                if await cont.run(call, committed, kept):
                    return
            await end_with(send, record, STREAM_ERROR[call.api](err), err)
        except asyncio.CancelledError:  # drain or shutdown: the error event, then go on
            committed.resp.abort()
            await end_cancelled(send, record, STREAM_ERROR[call.api](StreamDrained(DRAINED)))
            raise

    async def _filtered(self, call: ModelCall, resp: UpstreamResponse, chain: Chain) -> None:
        """Whole events through the output chain (each upstream chunk's complete events; the
        chain may see an event split no more)."""
        record = call.record
        headers = filter_headers(record)
        usage = StreamUsage()
        send = call.send
        split = SseSplitter()
        ctx = call.filter_context()
        strip = injects_usage(call.api, call.stream, call.doc)
        async for chunk in resp.chunks():
            if not record.upstream_first_chunk:
                record.upstream_first_chunk = time.perf_counter_ns()
            block = split.feed(chunk)
            if not strip:
                usage.feed(chunk)
            elif block:  # the usage the gateway asked for is read where it is taken out
                block = strip_usage(block, usage.take_event)
            out = await chain.run(block, call.path, headers, ctx=ctx) if block else b""
            if out:
                await send({"type": "http.response.body", "body": out, "more_body": True})
        record.upstream_done = time.perf_counter_ns()
        rest = split.close()
        if rest:
            rest = await chain.run(rest, call.path, headers, ctx=ctx)
        await send({"type": "http.response.body", "body": rest})
        _note_stream_usage(record, usage)


async def relay_stream(
    call: ModelCall,
    resp: UpstreamResponse,
    guard: StreamGuard | None = None,
    kept: Kept | None = None,
    strip: bool = False,
) -> None:
    """Relay an event stream as whole events (an upstream chunk's incomplete last event waits
    for its end, so an error event never lands inside one); stop the upstream if the client
    leaves. With `kept`, the events sent are kept for a continuation and an in-stream error
    event is raised (`UpstreamStreamError`) instead of relayed. With `strip`, the usage the
    gateway asked for on the client's behalf is taken out of the events (`stream_usage`)."""
    record = call.record
    send = call.send
    state = {"done": False}
    watcher = asyncio.ensure_future(close_on_disconnect(call.receive, resp, state, record))
    usage = StreamUsage()
    meta = genai.StreamMeta() if sampled(record) else None
    split: SseSplitter | None = None  # made at the first chunk that does not end an event
    chunks: AsyncIterator[bytes] = resp.chunks() if guard is None else guard.chunks(resp)
    try:
        async for chunk in chunks:
            if not record.upstream_first_chunk:
                record.upstream_first_chunk = time.perf_counter_ns()
            if not strip:
                usage.feed(chunk)
            if split is not None:
                block = split.feed(chunk)
            elif chunk.endswith(b"\n\n"):  # the usual chunk: whole events
                block = chunk
            else:
                split = SseSplitter()
                block = split.feed(chunk)
            if not block:
                continue
            if meta is not None:
                meta.feed(block)
            if strip:  # the usage the gateway asked for is read where it is taken out
                block = strip_usage(block, usage.take_event)
                if not block:
                    continue
            if kept is not None:
                found = split_error_event(block)
                if found is not None:
                    if found[0]:
                        kept.add(found[0])
                        await send(
                            {"type": "http.response.body", "body": found[0], "more_body": True}
                        )
                    raise UpstreamStreamError(found[1])
                kept.add(block)
            await send({"type": "http.response.body", "body": block, "more_body": True})
        record.upstream_done = time.perf_counter_ns()
        state["done"] = True
        await send({"type": "http.response.body", "body": split.close() if split else b""})
    finally:
        state["done"] = True
        watcher.cancel()
        _note_stream_usage(record, usage)
        if meta is not None:
            meta.note(record)


def note_usage(record: RequestRecord, data: bytes) -> None:
    """The usage of a whole (non-streamed) answer in the OpenAI shape, when it has one."""
    try:
        usage = usage_of(orjson.loads(data))
    except orjson.JSONDecodeError:
        return
    if usage is not None:
        record.note_usage(usage.prompt, usage.completion, usage.cached, usage.cache_write)


def note_whole(record: RequestRecord, data: bytes) -> None:
    """A sampled request's whole answer: its usage and its GenAI response attributes."""
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        return
    genai.note_whole(record, doc)
    usage = usage_of(doc) if isinstance(doc, dict) else None
    if usage is not None:
        record.note_usage(usage.prompt, usage.completion, usage.cached, usage.cache_write)


def _note_stream_usage(record: RequestRecord, usage: StreamUsage) -> None:
    if (u := usage.usage) is not None:
        record.note_usage(u.prompt, u.completion, u.cached, u.cache_write)
