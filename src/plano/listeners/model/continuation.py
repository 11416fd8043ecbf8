"""Mid-stream failover, the response side: a chat-completions stream that broke after part of
the answer reached the client goes on with a fallback model's continuation, so the client reads
one well-formed stream.

While a stream is relayed, the relay keeps references to the whole events it sent (`Kept`, no
copy, no decoding; at most `MAX_KEPT` bytes, past which the stream is not continued). When the
upstream fails, `Continuation.run`:

1. reads what the client has (`chat_prefix`: the text, the ids, whether a tool call or a
   `finish_reason` went out; a tool call or a finished answer is not continued);
2. asks the exchange engine for the fallbacks (`Exchange.continuation_targets`: none when the
   provider opted out with `stream_continuation: false`) and sends each the continuation
   request (`plano.upstream.continuation`) with the usual retries and breakers (`resume`);
3. relays the fallback's stream decoded with its API's codec and encoded as the client's
   stream goes on: same `id`, `created` and `model`, no second role chunk, the final usage the
   sum of both attempts (the primary's share estimated from the text when it was cut before
   reporting any);

and answers False when nothing of it reached the client (no fallback, a refused continuation,
a fallback that failed before its first text): the caller then ends the stream with the
original error. A continuation that breaks after it started ends with its own error event.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from plano import ir
from plano.codec.sse_scan import block_data, split_events
from plano.errors import PlanoError, UpstreamProtocolError
from plano.listeners.model.call import ModelCall
from plano.listeners.model.stream_cut import end_with
from plano.listeners.model.translation import SHAPE_ERRORS
from plano.translate.openai_chat_stream import ChatStreamDecoder, ChatStreamEncoder
from plano.upstream.clusters import Resolved
from plano.upstream.continuation import continuation_doc, seed, takes_prefill
from plano.upstream.exchange import Exchange
from plano.upstream.request import Committed, Rebuild, Upstream
from plano.wire import openai_chat
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
    """A chat stream's in-stream error event in `block` (whole events): the events before it and
    the upstream's message; None when there is none (the usual case costs one `find`)."""
    if block.find(_ERROR_KEY) < 0:
        return None
    at = 0
    for event in split_events(block):
        for data in block_data(event):
            try:
                doc = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue
            if isinstance(doc, dict) and "error" in doc and "choices" not in doc:
                err = doc["error"]
                message = err.get("message") if isinstance(err, dict) else None
                return block[:at], str(message or "upstream stream error")
        at += len(event)
    return None


@dataclass(slots=True)
class ChatPrefix:
    """What a chat-completions client has read of the answer."""

    id: str = ""
    model: str = ""
    created: int | None = None
    text: list[str] = field(default_factory=list)
    tools: bool = False  # a tool call went out
    finished: bool = False  # a finish_reason went out
    usage: ir.Usage = field(default_factory=ir.Usage)


def chat_prefix(blocks: list[bytes]) -> ChatPrefix | None:
    """The answer so far, from the chat events sent; None when one cannot be read."""
    out = ChatPrefix()
    for block in blocks:
        for data in block_data(block):
            if data == b"[DONE]":
                out.finished = True
                continue
            try:
                doc = orjson.loads(data)
            except orjson.JSONDecodeError:
                return None
            if not isinstance(doc, dict):
                return None
            _read_chunk(doc, out)
    return out


def _read_chunk(doc: dict[str, Any], out: ChatPrefix) -> None:
    if not out.id and isinstance(doc.get("id"), str):
        out.id, out.model = doc["id"], str(doc.get("model") or "")
        created = doc.get("created")
        out.created = created if isinstance(created, int) else None
    usage = doc.get("usage")
    if isinstance(usage, dict):
        out.usage.input = usage.get("prompt_tokens")
        out.usage.output = usage.get("completion_tokens")
    for choice in doc.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        if choice.get("finish_reason"):
            out.finished = True
        delta = choice.get("delta")
        if isinstance(delta, dict):
            text = delta.get("content")
            if isinstance(text, str):
                out.text.append(text)
            if delta.get("tool_calls") or delta.get("function_call"):
                out.tools = True


def _estimate(chars: int) -> int:
    return (chars + 3) // 4  # about four characters a token


def primary_usage(prefix: ChatPrefix, doc: dict[str, Any] | None, text: str) -> ir.Usage:
    """What the broken attempt was billed: its own report, else an estimate from the request's
    message text and the answer's text so far."""
    reported = prefix.usage
    prompt = reported.input
    if prompt is None:
        messages = doc.get("messages") if doc is not None else None
        chars = 0
        for m in messages if isinstance(messages, list) else ():
            content = m.get("content") if isinstance(m, dict) else None
            if isinstance(content, str):
                chars += len(content)
            elif isinstance(content, list):
                chars += sum(len(p.get("text") or "") for p in content if isinstance(p, dict))
        prompt = _estimate(chars)
    completion = reported.output if reported.output is not None else _estimate(len(text))
    return ir.Usage(input=prompt, output=completion)


class Continuation:
    """Continues broken chat-completions streams on a fallback (see the module doc)."""

    def __init__(self, exchange: Exchange, rebuild: Rebuild) -> None:
        self._exchange = exchange
        self._rebuild = rebuild

    def wanted(self, call: ModelCall, up: Upstream) -> bool:
        """Whether a break of this stream could be continued (then the relay keeps its events
        and looks for error events); one dict lookup when nothing is configured."""
        if call.api is not Api.OPENAI_CHAT:
            return False
        return bool(self._exchange.continuation_targets(up, call.requested))

    async def run(self, call: ModelCall, committed: Committed, kept: Kept) -> bool:
        """Continue the client's stream; False when nothing was sent (the caller ends the stream
        with the original error)."""
        blocks = kept.blocks
        prefix = chat_prefix(blocks) if blocks is not None else None
        if prefix is None or prefix.tools or prefix.finished or not prefix.id:
            return False
        up = committed.up
        targets = self._exchange.continuation_targets(up, call.requested)
        if not targets or up.doc is None:
            return False
        text = "".join(prefix.text)
        record = call.record
        doc = up.doc

        def make(resolved: Resolved) -> Upstream:
            prefill = takes_prefill(resolved, call.api)
            return self._rebuild(
                seed(up, continuation_doc(doc, text, prefill=prefill)), resolved, record
            )

        got = await self._exchange.resume(targets, make, record)
        if isinstance(got, PlanoError):
            return False
        try:
            if got.resp.status >= 300 or got.resp.content_type != _SSE:
                return False
            call.upstream = got.up
            return await self._stitch(call, got, prefix, primary_usage(prefix, doc, text))
        finally:
            got.release()

    async def _stitch(
        self, call: ModelCall, got: Committed, prefix: ChatPrefix, primary: ir.Usage
    ) -> bool:
        """The fallback's stream, as the rest of the client's."""
        up, resp = got.up, got.resp
        tr = up.translation
        decoder = tr.upstream.stream_decoder() if tr is not None else ChatStreamDecoder()
        opts = (up.doc or {}).get("stream_options")
        encoder = ChatStreamEncoder(isinstance(opts, dict) and opts.get("include_usage") is True)
        encoder.encode([ir.MessageStart(prefix.id, prefix.model, created=prefix.created)])
        merged = _Merged(primary)
        chunks: AsyncIterator[bytes] = (
            resp.chunks() if got.guard is None else got.guard.chunks(resp)
        )
        send = call.send
        sent = False
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
                    call.record.continued = True
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                    sent = True
                if merged.error is not None:
                    raise UpstreamStreamError(merged.error)
            data = encoder.encode(merged.adapt(decoder.close()))
            if merged.error is not None:
                raise UpstreamStreamError(merged.error)
        except PlanoError as err:
            resp.abort()
            if not sent:
                return False
            await end_with(send, call.record, openai_chat.stream_error_event(err), err)
            return True
        call.record.continued = True
        call.record.upstream_done = time.perf_counter_ns()
        await send({"type": "http.response.body", "body": data})
        total = merged.total()
        call.record.note_usage(total.input, total.output, None)
        return True


class _Merged:
    """The fallback's events as the continuation of the client's stream: no second start, the
    usage summed with the primary's, the first error noted (and what follows it dropped)."""

    __slots__ = ("error", "fallback", "primary")

    def __init__(self, primary: ir.Usage) -> None:
        self.primary = primary
        self.fallback = ir.Usage()
        self.error: str | None = None

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
            else:
                out.append(ev)
        return out

    def total(self) -> ir.Usage:
        p, f = self.primary, self.fallback
        return ir.Usage(
            input=(p.input or 0) + (f.input or 0), output=(p.output or 0) + (f.output or 0)
        )
