"""The response side of a translated exchange: the client speaks one API, the provider another.

A whole response goes back through both codecs (upstream decoder, client encoder); a stream runs,
per upstream chunk, the upstream decoder then the client encoder (O(chunk), never buffered).
Upstream error statuses are re-rendered in the client's error envelope with the same status. The
request side (decode, conversation state, encode per attempt target) is `translation`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Final

import orjson

from plano import ir
from plano.errors import PlanoError, UpstreamProtocolError
from plano.filters.chain import Chain
from plano.filters.types import FilterContext
from plano.listeners.asgi import send_bytes, send_error
from plano.listeners.model.call import ModelCall
from plano.listeners.model.continuation import Continuation, Kept, Save, UpstreamStreamError
from plano.listeners.model.filtered import filter_headers
from plano.listeners.model.stream_cut import (
    DRAINED,
    StreamDrained,
    cut_kind,
    end_cancelled,
    end_with,
)
from plano.listeners.model.translation import (
    API_NAMES,
    SHAPE_ERRORS,
    Translation,
    estimate_tokens,
)
from plano.listeners.types import RawHeaders, Receive, Send
from plano.observability import genai
from plano.observability.genai import sampled
from plano.observability.names import HEADER_OVERHEAD
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from plano.providers.bedrock_auth import BedrockSigner
from plano.state.conversations import ConversationStore
from plano.translate import error_message
from plano.translate.collect import Collector, events_of
from plano.translate.openai_responses import output_items
from plano.translate.openai_responses_items import parts_of_item, response_id
from plano.upstream.request import Committed, Upstream
from plano.upstream.stream_guard import StreamGuard
from plano.upstream.transport import UpstreamResponse
from plano.wire.api import Api

_JSON: Final = (b"content-type", b"application/json")
_SSE: Final = ((b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"))
_RELAYED_ON_ERROR: Final = frozenset({b"retry-after", b"x-request-id"})


class UpstreamStatus(PlanoError):
    """An upstream error status, re-rendered in the client's dialect."""

    kind = "upstream_status"

    def __init__(self, status: int, message: str, headers: tuple[tuple[str, str], ...]) -> None:
        super().__init__(message, headers=headers)
        self.status = status
        self.code = "upstream_error"


@dataclass(frozen=True, slots=True)
class Target:
    url: str
    headers: list[tuple[str, str]]
    model_name: str
    model_id: str
    provider: str
    ours: RawHeaders
    stream_only: bool = False  # the provider answers only streamed requests
    path: str = ""  # the client's API path (output filters are told it)
    signer: BedrockSigner | None = None  # SigV4: signs the translated body (Bedrock)


class TranslatedExchange:
    """The response side of a translated request (the exchange engine sent it; `Relay` hands
    over the committed answer)."""

    def __init__(
        self,
        telemetry: Telemetry,
        conversations: ConversationStore | None,
        output_chain: Chain | None = None,
    ) -> None:
        self._output_chain = output_chain  # run on what the client receives, as on passthrough
        self._telemetry = telemetry
        self._store = conversations

    async def count(self, send: Send, tr: Translation, ours: RawHeaders) -> None:
        """Anthropic count_tokens for a provider without the endpoint: the gateway's estimate."""
        body = orjson.dumps({"input_tokens": estimate_tokens(tr.request)})
        await send_bytes(send, 200, [_JSON, *ours], body)

    async def relay(
        self,
        call: ModelCall,
        committed: Committed,
        target: Target,
        continuation: Continuation | None = None,
    ) -> None:
        """Answer the client from the committed upstream response (the exchange engine chose
        it): decoded with the upstream codec, encoded with the client's.
        A PlanoError raised here means no byte reached the client yet."""
        resp, record, send = committed.resp, call.record, call.send
        tr: Translation = committed.up.translation
        ctx = call.filter_context() if self._output_chain is not None else None
        if resp.status >= 300:
            await self._error(send, target.path, resp, target, record)
        elif resp.content_type == "application/json":
            await self._whole(send, resp, tr, target, record, ctx)
        elif tr.request.stream:
            await self._stream(call, committed, tr, target, continuation)
        else:  # a stream-only provider's stream, folded back into one answer
            await self._fold(send, resp, tr, target, record, committed.guard, ctx)

    def _save(self, tr: Translation, rid: str, resp: ir.Response, target: Target) -> None:
        if self._store is None or tr.client_api is not Api.OPENAI_RESPONSES:
            return
        if tr.request.store is False:
            return
        convo = [*tr.history, ir.Message("assistant", list(resp.content))]
        self._store.save(rid, output_items(convo), target.model_name, target.provider)

    def _saver(self, tr: Translation, rid: str, target: Target) -> Save:
        """What stores a continued stream's conversation: the whole answer, from the output
        items the client's encoder finished (the fallback's `target` is not known here; the
        conversation is recorded under the model the client's stream started on)."""

        def save(items: list[dict[str, Any]]) -> None:
            parts = [p for item in items for p in parts_of_item(item)]
            self._save(tr, rid, ir.Response(rid, target.model_id, parts), target)

        return save

    async def _error(
        self,
        send: Send,
        path: str,
        resp: UpstreamResponse,
        target: Target,
        rec: RequestRecord,
    ) -> None:
        data = await resp.read()
        rec.upstream_done = time.perf_counter_ns()
        rec.error_kind = "upstream_status"
        message = error_message(data) or f"upstream answered {resp.status}"
        kept = tuple(
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in resp.raw_headers
            if k.lower() in _RELAYED_ON_ERROR and k.lower() != b"x-request-id"
        )
        await send_error(send, path, UpstreamStatus(resp.status, message, kept), target.ours)

    async def _whole(
        self,
        send: Send,
        resp: UpstreamResponse,
        tr: Translation,
        target: Target,
        record: RequestRecord,
        ctx: FilterContext | None = None,
    ) -> None:
        response = await self._parse_whole(resp, tr, record)
        await self._answer(send, response, tr, target, record, ctx)

    async def _fold(
        self,
        send: Send,
        resp: UpstreamResponse,
        tr: Translation,
        target: Target,
        record: RequestRecord,
        guard: StreamGuard | None,
        ctx: FilterContext | None = None,
    ) -> None:
        decoder = tr.upstream.stream_decoder()
        decoder.runs = True  # the collector takes runs of text deltas
        collector = Collector()
        try:
            async for chunk in _chunks(resp, guard):
                collector.feed(decoder.feed(chunk))
            collector.feed(decoder.close())
        except SHAPE_ERRORS as exc:
            collector.error = _shape_error(tr, exc)
        record.upstream_done = time.perf_counter_ns()
        if collector.error is not None:
            raise UpstreamStatus(collector.error.status, collector.error.message, ())
        await self._answer(send, collector.response(), tr, target, record, ctx)

    async def _answer(
        self,
        send: Send,
        response: ir.Response,
        tr: Translation,
        target: Target,
        record: RequestRecord,
        ctx: FilterContext | None = None,
    ) -> None:
        """A whole answer to the client: one body, or its events for a streaming client whose
        upstream ignored `stream`."""
        response.model = response.model or target.model_id  # Bedrock does not name it
        note_usage(record, response.usage)
        if sampled(record):
            genai.note_response(record, response.id, response.model, [response.stop_reason.value])
        if tr.client_api is Api.OPENAI_RESPONSES:
            response.id = response_id(response.id)
            self._save(tr, response.id, response, target)
        if tr.request.stream:
            out = tr.client.stream_encoder(tr.request).encode(events_of(response))
            headers = [*_SSE, *target.ours]
        else:
            out = tr.client.encode_response(response)
            headers = [_JSON, *target.ours]
        if self._output_chain is not None:
            out = await self._output_chain.run(out, target.path, filter_headers(record), ctx=ctx)
        headers.append(overhead_header(record, record.upstream_done))
        await send_bytes(send, 200, headers, out)

    async def _parse_whole(
        self, resp: UpstreamResponse, tr: Translation, record: RequestRecord
    ) -> ir.Response:
        data = await resp.read()
        record.upstream_done = time.perf_counter_ns()
        try:
            doc = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise UpstreamProtocolError("upstream answered with a body that is not JSON") from None
        if not isinstance(doc, dict):
            raise UpstreamProtocolError("upstream answered with a body that is not an object")
        try:
            response = tr.upstream.parse_response(doc)
        except SHAPE_ERRORS as exc:
            raise UpstreamProtocolError(
                f"upstream answer does not match the {API_NAMES[tr.upstream_api]} API "
                f"({type(exc).__name__})"
            ) from None
        return response

    async def _stream(
        self,
        call: ModelCall,
        committed: Committed,
        tr: Translation,
        target: Target,
        continuation: Continuation | None,
    ) -> None:
        resp, record, send = committed.resp, call.record, call.send
        decoder = tr.upstream.stream_decoder()
        decoder.runs = True  # every client encoder takes runs of text deltas
        encoder = tr.client.stream_encoder(tr.request)
        rid = response_id("") if tr.client_api is Api.OPENAI_RESPONSES else None
        keep = rid is not None and self._store is not None and tr.request.store is not False
        collector = Collector() if keep else None
        usage = collector.usage if collector is not None else ir.Usage()
        headers = [*_SSE, *target.ours, overhead_header(record, record.upstream_headers)]
        self._telemetry.stream_started(record)
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        kept = self._kept(call, committed, continuation)
        out = _Out(send, encoder, usage, collector, rid, tr, target, record, kept, call.filters)
        state = {"done": False}
        watcher = asyncio.ensure_future(close_on_disconnect(call.receive, resp, state, record))
        try:
            async for chunk in _chunks(resp, committed.guard):
                if not record.upstream_first_chunk:
                    record.upstream_first_chunk = time.perf_counter_ns()
                try:
                    events = decoder.feed(chunk)
                except SHAPE_ERRORS as exc:
                    events = [_shape_error(tr, exc)]
                if events:
                    await self._emit(events, out)
            record.upstream_done = time.perf_counter_ns()
            state["done"] = True
            try:
                events = decoder.close()
            except SHAPE_ERRORS as exc:
                events = [_shape_error(tr, exc)]
            await self._emit(events, out)
            await send({"type": "http.response.body", "body": b""})
        except PlanoError as err:
            # the upstream failed mid-stream: continued on a fallback, or its error event
            resp.abort()  # never hand a broken connection back to the pool
            watcher.cancel()  # a continuation watches the client itself
            save = self._saver(tr, rid, target) if keep and rid is not None else None
            await _broken(call, committed, err, encoder, kept, continuation, save)
        except asyncio.CancelledError:  # drain or shutdown: the error event, then go on
            resp.abort()
            data = encoder.encode([ir.StreamError(DRAINED, StreamDrained.status)])
            await end_cancelled(send, record, data)
            raise
        finally:
            state["done"] = True
            watcher.cancel()
            if not record.continued:
                note_usage(record, usage)

    def _kept(
        self, call: ModelCall, committed: Committed, continuation: Continuation | None
    ) -> Kept | None:
        """What a continuation of this stream keeps (nothing with an output chain, which gets
        the request's filter context for the whole stream instead)."""
        if self._output_chain is not None:
            call.filter_context()
            return None
        if continuation is not None and continuation.wanted(call, committed.up):
            return Kept()
        return None

    async def _emit(self, events: list[ir.Event], out: _Out) -> None:
        """Encode decoded upstream events for the client; an upstream error among them ends the
        relay (raised, after the events before it) so the stream is continued or cut alike."""
        failed: ir.StreamError | None = None
        for i, ev in enumerate(events):
            kind = type(ev)
            if kind is ir.TextRun or kind is ir.TextDelta or kind is ir.ToolArgsDelta:
                continue  # most events: nothing to note
            if isinstance(ev, ir.MessageStart):
                ev.model = ev.model or out.target.model_id
                if out.rid is not None:
                    ev.id = out.rid
                if out.collector is None:
                    out.usage.merge(ev.usage)
                if sampled(out.record):
                    genai.note_response(out.record, ev.id, ev.model)
            elif isinstance(ev, ir.MessageDelta):
                if out.collector is None:
                    out.usage.merge(ev.usage)
                if ev.stop_reason is not None and sampled(out.record):
                    genai.note_response(out.record, None, None, [ev.stop_reason.value])
            elif isinstance(ev, ir.StreamError):
                failed = ev
                events = events[:i]
                break
        collector = out.collector
        if collector is not None:
            collector.feed(events)
            if collector.complete and out.rid is not None:
                self._save(out.tr, out.rid, collector.response(), out.target)
                collector.complete = False  # saved once
        data = out.encoder.encode(events) if events else b""
        if data and self._output_chain is not None:
            data = await self._output_chain.run(
                data, out.target.path, filter_headers(out.record), ctx=out.ctx
            )
        if data:
            if out.kept is not None:
                out.kept.add(data)
            await out.send({"type": "http.response.body", "body": data, "more_body": True})
        if failed is not None:
            raise UpstreamStreamError(failed.message, status=failed.status)


@dataclass(slots=True)
class _Out:
    """What encoding a translated stream for the client needs, per stream."""

    send: Send
    encoder: Any
    usage: ir.Usage
    collector: Collector | None
    rid: str | None
    tr: Translation
    target: Target
    record: RequestRecord
    kept: Kept | None
    ctx: FilterContext | None = None  # the request's filter context


async def _broken(
    call: ModelCall,
    committed: Committed,
    err: PlanoError,
    encoder: Any,
    kept: Kept | None,
    continuation: Continuation | None,
    save: Save | None = None,
) -> None:
    """A translated stream broke: continued on a fallback, else its error event."""
    record = call.record
    if kept is not None and record.error_kind != "client_gone" and cut_kind(err) == "stream":
        assert continuation is not None
        if await continuation.run(call, committed, kept, save):
            return
    data = encoder.encode([ir.StreamError(err.message, err.status)])
    await end_with(call.send, record, data, err)


def target_of(up: Upstream, ours: RawHeaders, path: str) -> Target:
    """What the response side needs of the committed attempt."""
    r = up.resolved
    cluster = r.cluster
    return Target(
        up.url,
        up.headers,
        r.name,
        r.model_id,
        cluster.provider,
        ours,
        cluster.row.stream_only,
        path,
        cluster.signer,
    )


def _chunks(resp: UpstreamResponse, guard: StreamGuard | None) -> AsyncIterator[bytes]:
    return resp.chunks() if guard is None else guard.chunks(resp)


def _shape_error(tr: Translation, exc: Exception) -> ir.StreamError:
    api = API_NAMES[tr.upstream_api]
    return ir.StreamError(f"upstream stream does not match the {api} API ({type(exc).__name__})")


def note_usage(record: RequestRecord, usage: ir.Usage) -> None:
    """The usage a decoded answer reported, when it reported any."""
    if usage.input is not None or usage.output is not None:
        record.note_usage(usage.input, usage.output, usage.cache_read, usage.cache_write)


_OVERHEAD_NAME: Final = HEADER_OVERHEAD.encode()


def overhead_header(record: RequestRecord, upstream_mark: int) -> tuple[bytes, bytes]:
    """`x-plano-overhead-ms`: time spent in the gateway up to this point, upstream wait excluded."""
    spent = time.perf_counter_ns() - record.start - (upstream_mark - record.upstream_sent)
    return _OVERHEAD_NAME, f"{spent / 1e6:.3f}".encode()


async def close_on_disconnect(
    receive: Receive, resp: UpstreamResponse, state: dict[str, Any], record: RequestRecord
) -> None:
    """Watch the client while a response streams: if it leaves, stop reading the upstream."""
    message = await receive()
    if message["type"] == "http.disconnect" and not state["done"]:
        record.error_kind = "client_gone"
        resp.abort()
