"""Mid-stream failover, the response side: a stream that broke after part of the answer reached
the client (OpenAI chat-completions, Anthropic Messages and OpenAI Responses clients) goes on
with a fallback model's continuation, so the client reads one well-formed stream.

While a stream is relayed, the relay keeps references to the whole events it sent (`Kept`, no
copy, no decoding; at most `MAX_KEPT` bytes, past which the stream is not continued). When the
upstream fails, `Continuation.run`:

1. reads what the client has (`continuation_prefix`: the text, the ids, whether a tool call,
   an open thinking block or the answer's end went out: those are not continued);
2. asks the exchange engine for the fallbacks (`Exchange.continuation_targets`: none when the
   provider opted out with `stream_continuation: false`) and sends each the continuation
   request (`plano.upstream.continuation`) with the usual retries and breakers (`resume`);
3. relays the fallback's stream decoded with its API's codec and encoded as the client's
   stream goes on: same `id`, `created` and `model`, no second preamble (role chunk,
   `message_start`), the open text block continued and later blocks numbered after the
   client's, the final usage the sum of both attempts (the primary's share estimated from the
   text when it was cut before reporting any). A Responses client's encoder is primed with
   the stream's response id, next `sequence_number`, finished items and open message item, so
   the numbers go on without a gap and the open `output_text` part ends once, with the whole
   text; a translated stream's conversation is then stored with the whole answer (`save`);

and answers False when nothing of it reached the client (no fallback, a refused continuation,
a fallback that failed before its first text): the caller then ends the stream with the
original error. A continuation that breaks after it started ends with its own error event.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import orjson

from plano import ir
from plano.codec.sse_scan import block_data, split_events
from plano.errors import PlanoError, UpstreamProtocolError
from plano.listeners.model.call import ModelCall
from plano.listeners.model.continuation_prefix import Prefix, primary_usage, read_prefix
from plano.listeners.model.stream_cut import DRAINED, StreamDrained, end_cancelled, end_with
from plano.listeners.model.translation import SHAPE_ERRORS
from plano.translate.anthropic_messages_stream import MessagesStreamDecoder, MessagesStreamEncoder
from plano.translate.openai_chat_stream import ChatStreamDecoder, ChatStreamEncoder
from plano.translate.openai_responses import output_items
from plano.translate.openai_responses_stream import ResponsesStreamDecoder, ResponsesStreamEncoder
from plano.upstream.clusters import Resolved
from plano.upstream.continuation import continuation_doc, seed, takes_prefill
from plano.upstream.exchange import Exchange
from plano.upstream.request import Committed, Rebuild, Upstream
from plano.upstream.transport import UpstreamResponse
from plano.wire import anthropic_messages, openai_chat, openai_responses
from plano.wire.api import Api

MAX_KEPT: Final = 256 * 1024  # bytes of sent events kept per stream; beyond, no continuation
_SSE: Final = "text/event-stream"
_ERROR_KEY: Final = b'"error"'


class Kept:
    """References to the whole events a stream sent, up to `MAX_KEPT` bytes (then `blocks`
    is None: the stream is too long to continue)."""

    __slots__ = ("blocks", "size")

    def __init__(self) -> None:
        self.blocks: list[bytes] | None = []
        self.size = 0

    def add(self, block: bytes) -> None:
        blocks = self.blocks
        if blocks is not None:
            self.size += len(block)
            if self.size > MAX_KEPT:
                self.blocks = None
            else:
                blocks.append(block)


class UpstreamStreamError(PlanoError):
    """The upstream reported an error inside its stream (an error event)."""

    code = "upstream_error"
    kind = "stream"

    def __init__(self, message: str, *, status: int = 502) -> None:
        super().__init__(message)
        self.status = status


def split_error_event(block: bytes) -> tuple[bytes, str] | None:
    """An in-stream error event in `block` (whole events; chat and Messages `{"error": ...}`,
    Responses `error` and `response.failed`): the events before it and the upstream's message;
    None when there is none (the usual case costs one `find`)."""
    if block.find(_ERROR_KEY) < 0:
        return None
    at = 0
    for event in split_events(block):
        for data in block_data(event):
            try:
                doc = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if not isinstance(doc, dict):
                continue
            kind = doc.get("type")
            if kind == "response.failed":
                err = (doc.get("response") or {}).get("error")
            elif "error" in doc and "choices" not in doc:
                err = doc["error"]
            elif kind == "error":  # Responses: code and message at the top
                err = doc
            else:
                continue
            message = err.get("message") if isinstance(err, dict) else None
            return block[:at], str(message or "upstream stream error")
        at += len(event)
    return None


_ERROR_EVENT: Final = {
    Api.OPENAI_CHAT: openai_chat.stream_error_event,
    Api.ANTHROPIC_MESSAGES: anthropic_messages.stream_error_event,
    Api.OPENAI_RESPONSES: openai_responses.stream_error_event,
}
Save = Callable[[list[dict[str, Any]]], None]  # stores a Responses conversation's whole output


class Continuation:
    """Continues broken streams on a fallback (see the module doc)."""

    def __init__(self, exchange: Exchange, rebuild: Rebuild) -> None:
        self._exchange = exchange
        self._rebuild = rebuild

    def wanted(self, call: ModelCall, up: Upstream) -> bool:
        """Whether a break of this stream could be continued (then the relay keeps its events
        and looks for error events); one dict lookup when nothing is configured."""
        if call.api not in _ERROR_EVENT:
            return False
        return bool(self._exchange.continuation_targets(up, call.requested))

    async def run(
        self, call: ModelCall, committed: Committed, kept: Kept, save: Save | None = None
    ) -> bool:
        """Continue the client's stream; False when nothing was sent (the caller ends the stream
        with the original error). `save`: what stores a Responses conversation (translated
        streams), given the whole answer's output items once it completed."""
        blocks = kept.blocks
        prefix = read_prefix(call.api, blocks) if blocks is not None else None
        if prefix is None or not prefix.continuable:
            return False
        up = committed.up
        targets = self._exchange.continuation_targets(up, call.requested)
        if not targets or up.doc is None:
            return False
        text = "".join(prefix.text)
        record = call.record
        primary_model = record.model  # the fallback's build renames the record's model
        doc = _whole_conversation(up.doc, up.translation)

        def make(resolved: Resolved) -> Upstream:
            prefill = takes_prefill(resolved, call.api)
            asked = continuation_doc(doc, text, prefill=prefill, api=call.api)
            return self._rebuild(seed(up, asked), resolved, record)

        got = await self._exchange.resume(targets, make, record)
        if isinstance(got, PlanoError):
            return False
        try:
            if got.resp.status >= 300 or got.resp.content_type != _SSE:
                return False
            call.upstream = got.up
            usage = primary_usage(prefix, doc, text)
            if primary_model is not None:  # the broken attempt is billed by its provider
                record.note_billed(primary_model, usage.input, usage.output, usage.cache_read)
            return await self._stitch(call, got, prefix, usage, save)
        finally:
            got.release()

    async def _stitch(
        self, call: ModelCall, got: Committed, prefix: Prefix, primary: ir.Usage, save: Save | None
    ) -> bool:
        """The fallback's stream, as the rest of the client's."""
        up, resp, record, send = got.up, got.resp, call.record, call.send
        decoder, encoder = _codecs(call.api, up, prefix)
        error_event = _error_event(call.api, encoder)
        merged = _Merged(primary, prefix)
        chunks: AsyncIterator[bytes] = (
            resp.chunks() if got.guard is None else got.guard.chunks(resp)
        )
        sent = False
        watcher = asyncio.ensure_future(_watch(call, resp))
        try:
            async for chunk in chunks:
                try:
                    events = decoder.feed(chunk)
                except SHAPE_ERRORS:
                    raise UpstreamProtocolError(
                        "the fallback's stream does not match its API"
                    ) from None
                data = encoder.encode(merged.adapt(events))
                if data:
                    record.continued = sent = True
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                if merged.error is not None:
                    raise UpstreamStreamError(merged.error)
            data = encoder.encode(merged.adapt(decoder.close()))
            if merged.error is not None:
                raise UpstreamStreamError(merged.error)
        except PlanoError as err:
            resp.abort()
            if not sent:
                return False
            await end_with(send, record, error_event(err), err)
            return True
        except asyncio.CancelledError:  # drain or shutdown while continuing
            resp.abort()
            await end_cancelled(send, record, error_event(StreamDrained(DRAINED)))
            raise
        finally:
            watcher.cancel()
        record.continued = True
        record.upstream_done = time.perf_counter_ns()
        await send({"type": "http.response.body", "body": data})
        total = merged.total()
        record.note_usage(total.input, total.output, None)
        f = merged.fallback
        if record.model is not None:
            record.note_billed(record.model, f.input, f.output, f.cache_read, f.cache_write)
        if save is not None and isinstance(encoder, ResponsesStreamEncoder) and merged.stopped:
            save(encoder.output)
        return True


async def _watch(call: ModelCall, resp: UpstreamResponse) -> None:
    """While the continuation streams: if the client leaves, stop reading the fallback."""
    message = await call.receive()
    if message["type"] == "http.disconnect":
        call.record.error_kind = "client_gone"
        resp.abort()


def _whole_conversation(doc: dict[str, Any], tr: Any) -> dict[str, Any]:
    """The request to continue: the client's, but a translated Responses request that named a
    `previous_response_id` carries the conversation loaded for it instead (the fallback is
    built afresh and could not load it again)."""
    if tr is None or tr.request.previous_response_id is None:
        return doc
    out = {k: v for k, v in doc.items() if k != "previous_response_id"}
    out["input"] = output_items(tr.history)
    return out


def _error_event(api: Api, encoder: Any) -> Callable[[PlanoError], bytes]:
    """The continued stream's error event: a Responses one from its encoder (numbered after the
    events before it), the dialect's otherwise."""
    if api is not Api.OPENAI_RESPONSES:
        return _ERROR_EVENT[api]

    def event(err: PlanoError) -> bytes:
        data: bytes = encoder.encode([ir.StreamError(err.message, err.status, err.code)])
        return data

    return event


def _codecs(api: Api, up: Upstream, prefix: Prefix) -> tuple[Any, Any]:
    """The fallback's stream decoder, and the client's encoder primed as its stream stands."""
    tr = up.translation
    decoder: Any
    if api is Api.OPENAI_RESPONSES:
        decoder = tr.upstream.stream_decoder() if tr is not None else ResponsesStreamDecoder()
        responses = ResponsesStreamEncoder()
        opened = None
        if prefix.open_text is not None:
            opened = (prefix.open_text, prefix.item_id, prefix.text[prefix.open_from :])
        created = prefix.created or 0
        responses.resume(prefix.id, prefix.model, created, prefix.seq, prefix.done, opened)
        return decoder, responses
    if api is Api.OPENAI_CHAT:
        decoder = tr.upstream.stream_decoder() if tr is not None else ChatStreamDecoder()
        opts = (up.doc or {}).get("stream_options")
        encoder: Any = ChatStreamEncoder(
            isinstance(opts, dict) and opts.get("include_usage") is True
        )
        encoder.encode([ir.MessageStart(prefix.id, prefix.model, created=prefix.created)])
        return decoder, encoder
    decoder = tr.upstream.stream_decoder() if tr is not None else MessagesStreamDecoder()
    encoder = MessagesStreamEncoder()
    primed: list[ir.Event] = [ir.MessageStart(prefix.id, prefix.model)]
    if prefix.open_text is not None:
        primed.append(ir.BlockStart(prefix.open_text, "text"))
    encoder.encode(primed)
    return decoder, encoder


class _Merged:
    """The fallback's events as the continuation of the client's stream: no second start, its
    first text block continuing the client's open one and its other blocks numbered after the
    client's, the usage summed with the primary's, the first error noted (what follows it is
    dropped)."""

    __slots__ = ("error", "fallback", "index", "next", "open_text", "primary", "stopped")

    def __init__(self, primary: ir.Usage, prefix: Prefix) -> None:
        self.primary = primary
        self.fallback = ir.Usage()
        self.error: str | None = None
        self.stopped = False  # the fallback's answer ended (MessageStop)
        self.open_text = prefix.open_text  # the client's open text block, until one continues it
        self.next = prefix.next_index
        self.index: dict[int, int] = {}  # fallback block index -> client block index

    def _block(self, ev: ir.BlockStart) -> bool:
        """Number the fallback's block; False when it continues the client's open block."""
        if ev.kind == "text" and self.open_text is not None:
            self.index[ev.index], self.open_text = self.open_text, None
            return False
        self.index[ev.index] = ev.index = self.next
        self.next += 1
        return True

    def adapt(self, events: list[ir.Event]) -> list[ir.Event]:
        out: list[ir.Event] = []
        for ev in events:
            if isinstance(ev, ir.MessageStart):
                self.fallback.merge(ev.usage)
            elif isinstance(ev, ir.StreamError):
                self.error = ev.message
                break
            elif isinstance(ev, ir.MessageDelta):
                self.fallback.merge(ev.usage)
                out.append(ir.MessageDelta(ev.stop_reason, ev.stop_sequence, self.total()))
            elif isinstance(ev, ir.BlockStart):
                if self._block(ev):
                    out.append(ev)
            elif isinstance(ev, ir.MessageStop):
                self.stopped = True
                out.append(ev)
            else:
                ev.index = self.index.get(ev.index, ev.index)
                out.append(ev)
        return out

    def total(self) -> ir.Usage:
        p, f = self.primary, self.fallback
        return ir.Usage(
            input=(p.input or 0) + (f.input or 0), output=(p.output or 0) + (f.output or 0)
        )
