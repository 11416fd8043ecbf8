"""Agent listeners (`type: agent`): OpenAI-style chat in, the selected agents' answer out.

`/v1/chat/completions` and `/v1/messages` are handled here; `/v1/responses` is decoded here and
run by `agent_responses` (Responses in, chat-completion agents behind, Responses out).

Per request: read the body, take its `messages`, let the pipeline pick the agents, then for each
agent in order run its input filters and call it. An intermediate agent's answer is read whole
and joined into the history (before the final user message); the last agent's status, headers and
body bytes are relayed as they arrive, unchanged.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from plano.agents.embedded_selector import build_selector
from plano.agents.orchestration import (
    AgentChainError,
    AgentClientError,
    AgentPipeline,
    AgentTarget,
    base_of,
    reply_text,
    with_reply,
)
from plano.config import Config, ListenerConfig
from plano.errors import BadRequest, MalformedJson, PlanoError
from plano.filters.chain import FilterTable, compile_chain, passed_headers
from plano.listeners.agent.responses import AgentResponses
from plano.listeners.asgi import (
    JSON_CT,
    ClientDisconnected,
    header,
    read_body,
    send_bytes,
    send_error,
)
from plano.listeners.model.translation import continue_conversation, prepare
from plano.listeners.types import Receive, RequestIds, Route, Scope, Send
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from plano.routing.resolve import ModelTable
from plano.state.conversations import ConversationStore
from plano.upstream.retry import RetryPolicy
from plano.upstream.transport import Transport
from plano.wire import anthropic_messages, openai_chat, openai_responses
from plano.wire.api import Api

_NOT_RELAYED: Final = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"keep-alive", b"te", b"trailer"}
)
_TRACE: Final = frozenset({"traceparent", "tracestate"})


class AgentListener:
    def __init__(
        self, pipeline: AgentPipeline, *, max_body_bytes: int, responses: AgentResponses
    ) -> None:
        self._pipeline = pipeline
        self._max_body = max_body_bytes
        self._ids = RequestIds()
        self._responses = responses

    def routes(self) -> dict[tuple[str, str], Route]:
        return {
            ("POST", openai_chat.PATH): Route("agent_chat", self.handle),
            ("POST", anthropic_messages.PATH): Route("agent_chat", self.handle),
            ("POST", openai_responses.PATH): Route("agent_chat", self.handle_responses),
        }

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        record: RequestRecord = scope["plano.record"]
        try:
            body = await read_body(scope, receive, self._max_body)
            record.bytes_in = len(body)
            doc = _parse(body)
        except ClientDisconnected:
            record.error_kind = "client_gone"
            return
        except PlanoError as err:
            record.error_kind = err.kind
            await send_error(send, path, err)
            return
        record.stream = doc.get("stream") is True
        record.requested_model = doc.get("model") if isinstance(doc.get("model"), str) else None
        headers = self._headers(scope, record)
        try:
            await self._run(doc, path, headers, send, record)
        except (AgentClientError, AgentChainError) as err:
            record.error_kind = err.kind
            await send_bytes(send, err.status, [JSON_CT], err.own_body())

    async def handle_responses(self, scope: Scope, receive: Receive, send: Send) -> None:
        """OpenAI Responses in, chat-completion agents behind (see `agent_responses`)."""
        path: str = scope["path"]
        record: RequestRecord = scope["plano.record"]
        try:
            body = await read_body(scope, receive, self._max_body)
            record.bytes_in = len(body)
            doc = _object(body)
            model = doc.get("model") if isinstance(doc.get("model"), str) else None
            tr = prepare(Api.OPENAI_RESPONSES, Api.OPENAI_CHAT, doc)
            await continue_conversation(self._responses.store, tr)
        except ClientDisconnected:
            record.error_kind = "client_gone"
            return
        except PlanoError as err:
            record.error_kind = err.kind
            await send_error(send, path, err)
            return
        record.stream = tr.request.stream
        record.requested_model = model
        headers = self._headers(scope, record)
        try:
            await self._responses.run(tr, model or "", headers, send, record)
        except (AgentClientError, AgentChainError) as err:
            record.error_kind = err.kind
            await send_bytes(send, err.status, [JSON_CT], err.own_body())

    def _headers(self, scope: Scope, record: RequestRecord) -> list[tuple[str, str]]:
        headers = passed_headers(scope["headers"])
        accept = header(scope, b"accept")
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
        return headers

    async def _run(
        self,
        doc: dict[str, Any],
        path: str,
        headers: list[tuple[str, str]],
        send: Send,
        record: RequestRecord,
    ) -> None:
        pipeline = self._pipeline
        messages: list[Any] = doc["messages"]
        id_headers = [(k, v) for k, v in headers if k.lower() in ("x-request-id", "traceparent")]
        agents = await pipeline.plan(messages, id_headers, record)
        record.route = ",".join(a.id for a in agents)
        out = [*headers, ("content-type", "application/json")]
        for i, target in enumerate(agents):
            messages = await pipeline.run_filters(
                target, doc.get("model"), messages, headers, record
            )
            body = orjson.dumps({**doc, "messages": messages})
            last = i == len(agents) - 1
            record.attempts += 1
            async with pipeline.call(target, path, body, out, record) as resp:
                record.upstream_status = resp.status
                if not last:
                    messages = with_reply(messages, target.id, await reply_text(resp))
                    continue
                relayed = [(k.lower(), v) for k, v in resp.raw_headers]
                await send(
                    {
                        "type": "http.response.start",
                        "status": resp.status,
                        "headers": [(k, v) for k, v in relayed if k not in _NOT_RELAYED],
                    }
                )
                try:
                    async for chunk in resp.chunks():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                except PlanoError:
                    record.error_kind = "stream"  # headers are out: the client sees a short body
                    return
                await send({"type": "http.response.body", "body": b""})


def _parse(body: bytes) -> dict[str, Any]:
    doc = _object(body)
    if not isinstance(doc.get("messages"), list):
        raise BadRequest("`messages` must be a list", param="messages")
    return doc


def _object(body: bytes) -> dict[str, Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedJson(f"request body is not valid JSON: {exc}") from None
    if type(doc) is not dict:
        raise MalformedJson("request body must be a JSON object")
    return doc


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
            chain=compile_chain(ref.input_filters, filters),
            retry=retries.get(ref.id),
        )
        for ref in listener.agents
    ]
    selector = None
    if len(targets) > 1:
        selector = build_selector(config, models, transport, timeout=listener.timeout)
    telemetry = telemetry or Telemetry()
    pipeline = AgentPipeline(
        listener.name, targets, selector, transport, timeout=listener.timeout, telemetry=telemetry
    )
    responses = AgentResponses(pipeline, conversations, telemetry)
    return AgentListener(pipeline, max_body_bytes=max_body_bytes, responses=responses)
