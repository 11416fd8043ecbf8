"""`POST /v1/responses` on agent listeners: a Responses client in front of chat-completion agents.

The Responses request is decoded into the IR (the translation hub's Responses codec), continued
from stored conversation state when it names a `previous_response_id` (with `state_storage`), and
rebuilt as a Chat Completions body: its `messages` are what selection, the agents' input filters
and the agents see, exactly as on `/v1/chat/completions`. Agents are called at
`/v1/chat/completions`. The last agent's answer is translated back: a chat completion becomes a
Responses object, a chat event stream becomes Responses events chunk by chunk (the chat codec's
stream decoder, then the Responses stream encoder); a stream is folded into one object for a
client that did not ask to stream, and a whole answer is replayed as events for one that did.
Each answer is stored under its `resp_…` id (unless `"store": false`).
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

import orjson

from plano import ir
from plano.agents.orchestration import AgentChainError, AgentTarget
from plano.errors import PlanoError, UpstreamProtocolError, UpstreamTimeout, UpstreamUnavailable
from plano.listeners.agent.call import AgentCall
from plano.listeners.asgi import send_bytes
from plano.listeners.model.stream_cut import DRAINED, StreamDrained, end_cancelled, note_cut
from plano.listeners.model.translated import note_usage
from plano.listeners.model.translation import (
    SHAPE_ERRORS,
    Translation,
    continue_conversation,
    prepare,
)
from plano.listeners.pipeline import Outcome, Stage
from plano.listeners.types import Send
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from plano.state.conversations import ConversationStore
from plano.state.deadline import time_left
from plano.translate.collect import Collector, events_of
from plano.translate.openai_responses import output_items
from plano.translate.openai_responses_items import response_id
from plano.upstream.transport import UpstreamResponse
from plano.wire.api import Api

_JSON: Final = (b"content-type", b"application/json")
_SSE: Final = ((b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache"))
_TRANSPORT_FAILURES: Final = (UpstreamUnavailable, UpstreamTimeout, UpstreamProtocolError)


class ResponsesView(Stage[AgentCall]):
    """A Responses request decoded into the IR, continued from stored conversation state, and
    rebuilt as the Chat Completions body the agents get."""

    def __init__(self, store: ConversationStore | None, timeout: float | None = None) -> None:
        self._store = store
        self._timeout = timeout  # the listener's request deadline: the store read fits in it

    async def __call__(self, call: AgentCall) -> Outcome:
        doc = call.doc
        model = doc.get("model") if isinstance(doc.get("model"), str) else None
        tr = call.tr = prepare(Api.OPENAI_RESPONSES, Api.OPENAI_CHAT, doc)
        t = self._timeout
        within = None if t is None else time_left(call.record.start, t)
        await continue_conversation(self._store, tr, within)
        record = call.record
        record.stream = tr.request.stream
        record.requested_model = model
        call.model = model or ""
        call.base = tr.upstream.build_request(tr.request, call.model)
        call.messages = call.base["messages"]
        return None


class RelayAsResponses:
    """The last agent's chat answer, translated back into Responses (and stored)."""

    def __init__(self, store: ConversationStore | None, telemetry: Telemetry) -> None:
        self.store = store
        self._telemetry = telemetry

    async def __call__(self, call: AgentCall, resp: UpstreamResponse, target: AgentTarget) -> None:
        tr = call.tr
        assert tr is not None
        if resp.content_type == "text/event-stream" and tr.request.stream:
            await self._stream(resp, tr, target, call.send, call.record)
        else:
            response = await _whole(resp, tr, target)
            await self._answer(response, tr, target, call.send, call.record)

    async def _answer(
        self,
        response: ir.Response,
        tr: Translation,
        target: AgentTarget,
        send: Send,
        record: RequestRecord,
    ) -> None:
        response.id = response_id(response.id)
        note_usage(record, response.usage)
        self._save(tr, response, target)
        if tr.request.stream:
            data = tr.client.stream_encoder(tr.request).encode(events_of(response))
            await send_bytes(send, 200, list(_SSE), data)
        else:
            await send_bytes(send, 200, [_JSON], tr.client.encode_response(response))

    async def _stream(
        self,
        resp: UpstreamResponse,
        tr: Translation,
        target: AgentTarget,
        send: Send,
        record: RequestRecord,
    ) -> None:
        decoder = tr.upstream.stream_decoder()
        encoder = tr.client.stream_encoder(tr.request)
        rid = response_id("")
        collector = Collector()
        self._telemetry.stream_started(record)
        await send({"type": "http.response.start", "status": 200, "headers": list(_SSE)})
        try:
            async for chunk in resp.chunks():
                await self._emit(decoder.feed(chunk), encoder, collector, rid, tr, target, send)
            await self._emit(decoder.close(), encoder, collector, rid, tr, target, send)
        except SHAPE_ERRORS as exc:
            record.error_kind = "stream"
            message = f"agent '{target.id}' stream is not a chat completion stream ({exc})"
            data = encoder.encode([ir.StreamError(message)])
            await send({"type": "http.response.body", "body": data, "more_body": True})
        except PlanoError as exc:  # the agent failed mid-stream: end the client's stream
            note_cut(record, exc)
            data = encoder.encode([ir.StreamError(f"agent '{target.id}' stream failed: {exc}")])
            await send({"type": "http.response.body", "body": data, "more_body": True})
        except asyncio.CancelledError:  # drain or shutdown: the error event, then go on
            resp.abort()
            data = encoder.encode([ir.StreamError(DRAINED, StreamDrained.status)])
            await end_cancelled(send, record, data)
            raise
        finally:
            note_usage(record, collector.usage)
        await send({"type": "http.response.body", "body": b""})

    async def _emit(
        self,
        events: list[ir.Event],
        encoder: Any,
        collector: Collector,
        rid: str,
        tr: Translation,
        target: AgentTarget,
        send: Send,
    ) -> None:
        for ev in events:
            if isinstance(ev, ir.MessageStart):
                ev.id = rid
        collector.feed(events)
        if collector.complete:
            collector.complete = False  # saved once
            response = collector.response()
            response.id = rid
            self._save(tr, response, target)
        data = encoder.encode(events)
        if data:
            await send({"type": "http.response.body", "body": data, "more_body": True})

    def _save(self, tr: Translation, response: ir.Response, target: AgentTarget) -> None:
        if self.store is None or tr.request.store is False:
            return
        convo = [*tr.history, ir.Message("assistant", list(response.content))]
        self.store.save(response.id, output_items(convo), response.model or target.id, "agent")


async def _whole(resp: UpstreamResponse, tr: Translation, target: AgentTarget) -> ir.Response:
    """The agent's whole answer (a chat completion, or a chat stream folded) in the IR."""
    try:
        if resp.content_type == "text/event-stream":
            decoder = tr.upstream.stream_decoder()
            collector = Collector()
            async for chunk in resp.chunks():
                collector.feed(decoder.feed(chunk))
            collector.feed(decoder.close())
            if collector.error is not None:
                raise AgentChainError(
                    f"agent '{target.id}' stream failed: {collector.error.message}", 502,
                    [target.id],
                )  # fmt: skip
            return collector.response()
        doc = orjson.loads(await resp.read())
        if not isinstance(doc, dict):
            raise TypeError("not an object")
        return tr.upstream.parse_response(doc)
    except AgentChainError:
        raise
    except _TRANSPORT_FAILURES as exc:
        raise AgentChainError(
            f"agent '{target.id}' answer could not be read ({type(exc).__name__})", 502, [target.id]
        ) from None
    except (orjson.JSONDecodeError, PlanoError, *SHAPE_ERRORS) as exc:
        raise AgentChainError(
            f"agent '{target.id}' did not answer with a chat completion ({type(exc).__name__})",
            502,
            [target.id],
        ) from None
