"""Agent listeners (`type: agent`): a client's conversation in, the selected agents' answer out.

Each route is a pipeline (`listeners.pipeline`), compiled once:

    /v1/chat/completions, /v1/messages:
        ReadBody → DecodeJson → [Authenticate: gateway keys] → ChatView → AgentHeaders
        → [AgentConversation] → PlanAgents → RunAgents(RelayAsIs)
    /v1/responses:
        ReadBody → DecodeJson → ResponsesView → AgentHeaders → [AgentConversation] → PlanAgents
        → RunAgents(RelayAsResponses)

`PlanAgents` lets the agent pipeline pick the agents (one agent: no model call). `RunAgents` runs
each in order: its input filters, then the call; an intermediate agent's answer is read whole and
joined into the history (before the final user message); the last agent's answer is relayed as it
arrives: unchanged (`RelayAsIs`), or translated back into Responses (`responses.RelayAsResponses`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final, Protocol

import orjson

from plano.access.keys_access import KeyAccess
from plano.agents.embedded_selector import build_selector
from plano.agents.orchestration import (
    AgentPipeline,
    AgentTarget,
    base_of,
    reply_text,
    with_reply,
)
from plano.codec.sse_scan import SseSplitter
from plano.config import Config, ListenerConfig
from plano.errors import BadRequest, PlanoError
from plano.filters.chain import FilterTable, compile_chain, passed_headers
from plano.http.headers import FRAMING, HOP_BY_HOP
from plano.listeners.agent.call import AgentCall
from plano.listeners.agent.responses import RelayAsResponses, ResponsesView
from plano.listeners.asgi import header
from plano.listeners.model.access import Authenticate
from plano.listeners.model.relay import STREAM_ERROR
from plano.listeners.model.stream_cut import DRAINED, StreamDrained, end_cancelled, end_with
from plano.listeners.pipeline import (
    AnyStage,
    DecodeJson,
    Outcome,
    Pipeline,
    ReadBody,
    Stage,
    SyncStage,
)
from plano.listeners.types import Receive, RequestIds, Route, Scope, Send
from plano.observability.telemetry import Telemetry
from plano.routing.resolve import ModelTable
from plano.state.conversations import ConversationStore
from plano.upstream.retry import RetryPolicy
from plano.upstream.transport import Transport, UpstreamResponse
from plano.wire import anthropic_messages, openai_chat, openai_responses
from plano.wire.api import Api

_NOT_RELAYED: Final = HOP_BY_HOP | FRAMING
_TRACE: Final = frozenset({"traceparent", "tracestate"})
_IDS: Final = frozenset({"x-request-id", "traceparent"})
_SSE: Final = "text/event-stream"


class ChatView(SyncStage[AgentCall]):
    """A chat (or Messages) request as the agents see it: its `messages`, model and stream."""

    def __call__(self, call: AgentCall) -> Outcome:
        doc = call.doc
        messages = doc.get("messages")
        if not isinstance(messages, list):
            return BadRequest("`messages` must be a list", param="messages")
        stream = doc.get("stream")
        if stream is not None and stream is not True and stream is not False:
            return BadRequest("stream: expected a boolean", param="stream")
        model = doc.get("model")
        if model is not None and not isinstance(model, str):
            return BadRequest("model: expected a string", param="model")
        record = call.record
        record.stream = stream is True
        call.model = record.requested_model = model
        call.messages = messages
        call.base = doc
        return None


class AgentHeaders(SyncStage[AgentCall]):
    """The client's headers as agents receive them: a request id, our trace context."""

    def __init__(self, ids: RequestIds) -> None:
        self._ids = ids

    def __call__(self, call: AgentCall) -> Outcome:
        record = call.record
        headers = passed_headers(call.scope["headers"])
        accept = header(call.scope, b"accept")
        if accept is not None:  # agents get the client's accept (filters get JSON's)
            headers.append(("accept", accept.decode("latin-1")))
        rid = next((v for k, v in headers if k.lower() == "x-request-id"), None)
        if rid is None:
            rid = self._ids.new()
            headers.append(("x-request-id", rid))
        record.request_id = rid
        if record.traceparent is not None:
            headers = [(k, v) for k, v in headers if k.lower() not in _TRACE]
            headers.append(("traceparent", record.traceparent))
            if record.tracestate:
                headers.append(("tracestate", record.tracestate))
        call.headers = headers
        return None


class PlanAgents(Stage[AgentCall]):
    """Which agents answer, in order (the selector, or the only / default agent)."""

    def __init__(self, agents: AgentPipeline) -> None:
        self._agents = agents

    async def __call__(self, call: AgentCall) -> Outcome:
        ids = [(k, v) for k, v in call.headers if k.lower() in _IDS]
        call.plan = await self._agents.plan(call.messages, ids, call.record, call.embeddings)
        call.record.route = ",".join(a.id for a in call.plan)
        return None


class AgentRelay(Protocol):
    """How the last agent's answer reaches the client."""

    async def __call__(
        self, call: AgentCall, resp: UpstreamResponse, target: AgentTarget
    ) -> None: ...


class RunAgents(Stage[AgentCall]):
    """Each planned agent in turn: input filters, the call; the last one's answer relayed.
    `path` is where agents are called (None: the client's own path)."""

    def __init__(self, agents: AgentPipeline, relay: AgentRelay, path: str | None) -> None:
        self._agents = agents
        self._relay = relay
        self._path = path

    async def __call__(self, call: AgentCall) -> Outcome:
        agents = self._agents
        record = call.record
        path = self._path or call.path
        messages = call.messages
        out = [*call.headers, ("content-type", "application/json")]
        last = len(call.plan) - 1
        for i, target in enumerate(call.plan):
            messages = await agents.run_filters(
                target, call.model, messages, call.headers, record, call.embeddings
            )
            body = orjson.dumps({**call.base, "messages": messages})
            record.attempts += 1
            started = time.perf_counter_ns()
            try:
                async with agents.call(target, path, body, out, record) as resp:
                    record.upstream_status = resp.status
                    if i < last:
                        messages = with_reply(messages, target.id, await reply_text(resp))
                    else:
                        await self._relay(call, resp, target)
            finally:  # the agent's time (its answer relayed, for the last) is not the gateway's
                record.waited += time.perf_counter_ns() - started
        return None


class RelayAsIs:
    """The last agent's status, headers and body bytes, as they arrive."""

    async def __call__(self, call: AgentCall, resp: UpstreamResponse, target: AgentTarget) -> None:
        send = call.send
        relayed = [(k.lower(), v) for k, v in resp.raw_headers]
        headers = [(k, v) for k, v in relayed if k not in _NOT_RELAYED]
        await send({"type": "http.response.start", "status": resp.status, "headers": headers})
        # An event stream goes out as whole events, so a break ends it with the error event.
        split = SseSplitter() if resp.status < 300 and resp.content_type == _SSE else None
        try:
            async for chunk in resp.chunks():
                block = chunk if split is None else split.feed(chunk)
                if block:
                    await send({"type": "http.response.body", "body": block, "more_body": True})
        except PlanoError as err:
            if split is None:
                call.record.error_kind = "stream"  # headers are out: the client sees a short body
                return
            resp.abort()
            await end_with(send, call.record, STREAM_ERROR[call.api](err), err)
            return
        except asyncio.CancelledError:  # drain or shutdown: an event stream ends with its error
            if split is not None:
                resp.abort()
                event = STREAM_ERROR[call.api](StreamDrained(DRAINED))
                await end_cancelled(send, call.record, event)
            raise
        await send({"type": "http.response.body", "body": b"" if split is None else split.close()})


class AgentListener:
    def __init__(
        self,
        agents: AgentPipeline,
        *,
        max_body_bytes: int,
        conversations: ConversationStore | None,
        telemetry: Telemetry,
        timeout: float | None = None,
        conversation: AnyStage[AgentCall] | None = None,
        keys: KeyAccess | None = None,
    ) -> None:
        head: list[AnyStage[AgentCall]] = [ReadBody(max_body_bytes), DecodeJson()]
        if keys is not None:
            head.append(Authenticate(keys))
        plan = [AgentHeaders(RequestIds()), conversation, PlanAgents(agents)]
        chat: list[AnyStage[AgentCall] | None] = [
            *head,
            ChatView(),
            *plan,
            RunAgents(agents, RelayAsIs(), None),
        ]
        responses: list[AnyStage[AgentCall] | None] = [
            *head,
            ResponsesView(conversations, timeout),
            *plan,
            RunAgents(agents, RelayAsResponses(conversations, telemetry), openai_chat.PATH),
        ]
        self.chat = Pipeline(_maker(Api.OPENAI_CHAT), chat)
        self.messages = Pipeline(_maker(Api.ANTHROPIC_MESSAGES), chat)
        self.responses = Pipeline(_maker(Api.OPENAI_RESPONSES), responses)

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", openai_chat.PATH): Route("agent_chat", self.chat.handler),
            ("POST", anthropic_messages.PATH): Route("agent_chat", self.messages.handler),
            ("POST", openai_responses.PATH): Route("agent_chat", self.responses.handler),
        }


def _maker(api: Api) -> Any:
    def make(scope: Scope, receive: Receive, send: Send) -> AgentCall:
        return AgentCall(scope, receive, send, api)

    return make


def build_agent_listener(
    listener: ListenerConfig,
    config: Config,
    models: ModelTable,
    transport: Transport,
    filters: FilterTable,
    *,
    max_body_bytes: int,
    telemetry: Telemetry | None = None,
    conversations: ConversationStore | None = None,
    conversation: AnyStage[AgentCall] | None = None,
    keys: KeyAccess | None = None,
) -> AgentListener:
    """Compile one agent listener: its agents, their filter chains and the selector."""
    urls = {a.id: str(a.url) for a in config.agents}
    retries = {a.id: RetryPolicy.of(a.retry_policy, 0) for a in config.agents if a.retry_policy}
    targets = [
        AgentTarget(
            id=ref.id,
            description=ref.description,
            default=ref.default,
            base=base_of(urls.get(ref.id, "http://127.0.0.1:9")),
            chain=compile_chain(filters.input_ids(ref.input_filters), filters),
            retry=retries.get(ref.id),
        )
        for ref in listener.agents
    ]
    selector = None
    if len(targets) > 1:
        selector = build_selector(config, models, transport, timeout=listener.timeout)
    telemetry = telemetry or Telemetry()
    agents = AgentPipeline(
        listener.name, targets, selector, transport, timeout=listener.timeout, telemetry=telemetry
    )
    return AgentListener(
        agents,
        max_body_bytes=max_body_bytes,
        conversations=conversations,
        telemetry=telemetry,
        timeout=listener.timeout,
        conversation=conversation,
        keys=keys,
    )
