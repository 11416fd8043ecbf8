"""What an agent listener does with one request, minus the HTTP plumbing (that is in
`plano.listeners.agent`).

`AgentPipeline.plan` picks the agents; `run_filters` passes the conversation through an agent's
input filters; `call` opens the agent's response; `reply_text` reads an intermediate agent's full
answer. Errors carry the original's bodies: `AgentClientError` (an agent's or filter's 4xx) and
`AgentChainError` (everything else).

Given the request's record, each step is a child span of the request (tracing on): the selection
(named after the listener, service `plano(orchestrator)`, attributes `selection.*`), each filter
call (see `plano.filters.chain`) and each agent call (`<agent id> <path>`, service
`plano(agent)`); the orchestrator and the agent receive their span's `traceparent`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import orjson

from plano.agents.prompt import AgentRoute
from plano.agents.selector import AgentSelector
from plano.codec.sse import SseDecoder
from plano.embedding.memo import EmbeddingMemo
from plano.errors import BadRequest, PlanoError, UpstreamConnectFailed, UpstreamTimeout
from plano.filters.chain import Chain, FilterRejected, with_traceparent
from plano.filters.types import FilterContext
from plano.observability import names as n
from plano.observability.record import RequestRecord, RoutingNote
from plano.observability.telemetry import NO_SPAN, SubSpan, Telemetry
from plano.upstream.retry import Outcome, RetryPolicy
from plano.upstream.transport import Limits, Transport, UpstreamResponse

log = logging.getLogger("plano.agents")

Headers = Sequence[tuple[str, str]]
FILTER_PATH: Final = "/v1/chat/completions"


class AgentClientError(PlanoError):
    """An agent or one of its filters answered 4xx: relayed with that status."""

    code = "agent_client_error"
    kind = "client"

    def __init__(self, agent: str, status: int, body: bytes) -> None:
        super().__init__(f"agent '{agent}' answered {status}")
        self.agent = agent
        self.status = status
        self.body = body

    def own_body(self) -> bytes:
        return orjson.dumps(
            {
                "error": "ClientError",
                "agent": self.agent,
                "status": self.status,
                "agent_response": self.body.decode("utf-8", "replace"),
            }
        )


class AgentChainError(PlanoError):
    """Selection, a filter or an agent failed (body: the original's `AgentFilterChainError`)."""

    code = "agent_filter_chain_error"

    def __init__(self, message: str, status: int = 502, chain: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.chain = tuple(chain)

    def own_body(self) -> bytes:
        return orjson.dumps(
            {
                "error": {
                    "type": "AgentFilterChainError",
                    "message": self.message,
                    "error_chain": list(self.chain),
                    "debug_info": self.message,
                }
            }
        )


@dataclass(frozen=True, slots=True)
class AgentTarget:
    """One agent of a listener, with everything needed to call it, built at config load."""

    id: str
    description: str
    default: bool
    base: str  # scheme://host:port of the agent's url (its path is ignored, as the original)
    chain: Chain | None
    retry: RetryPolicy | None = None  # ours, from the agent's `retry_policy`; None = never retry


class AgentPipeline:
    def __init__(
        self,
        listener: str,
        targets: Sequence[AgentTarget],
        selector: AgentSelector | None,
        transport: Transport,
        *,
        timeout: float,
        telemetry: Telemetry | None = None,
    ) -> None:
        self.listener = listener
        self.targets = {t.id: t for t in targets}
        self.routes = tuple(AgentRoute(t.id, t.description) for t in targets)
        self.fallback = next((t for t in targets if t.default), targets[0] if targets else None)
        self._selector = selector
        self._transport = transport
        self._limits = Limits(total=timeout)
        self._telemetry = telemetry or Telemetry()

    def _span(self, record: RequestRecord | None, name: str, service: str) -> SubSpan:
        return NO_SPAN if record is None else self._telemetry.child(record, name, service)

    async def plan(
        self,
        messages: Sequence[Any],
        headers: Headers,
        record: RequestRecord | None = None,
        memo: EmbeddingMemo | None = None,
    ) -> list[AgentTarget]:
        """Agents to run, in order. One agent: no model call. None fits: the default agent.
        `memo` holds the request's embeddings (shared by the embedded selector and filters)."""
        if self.fallback is None:
            raise AgentChainError(f"agent listener '{self.listener}' offers no agents", 400)
        if record is None or not self._telemetry.traced:
            start = time.perf_counter_ns()
            picked, fallback = await self._pick(messages, headers, memo)
            if record is not None:
                self._note(record, picked, fallback, start)
            return picked
        span = self._telemetry.child(record, self.listener, n.SERVICE_ORCHESTRATOR, "internal")
        start = time.perf_counter_ns()
        attributes: dict[str, Any] = {n.ATTR_SELECTION_LISTENER: self.listener}
        try:
            picked, fallback = await self._pick(
                messages, with_traceparent(headers, span.traceparent), memo
            )
        except AgentChainError as err:
            span.end(error=err.code, attributes=attributes)
            raise
        if self._selector is not None and len(self.targets) > 1:
            attributes[n.ATTR_SELECTION_BACKEND] = self._selector.kind
        attributes[n.ATTR_SELECTION_AGENT_COUNT] = len(picked)
        attributes[n.ATTR_SELECTION_AGENTS] = ",".join(t.id for t in picked)
        attributes[n.ATTR_SELECTION_MS] = (time.perf_counter_ns() - start) / 1e6
        span.end(attributes=attributes)
        self._note(record, picked, fallback, start)
        return picked

    def _note(
        self, record: RequestRecord, picked: list[AgentTarget], fallback: bool, start: int
    ) -> None:
        """Metrics of a selection by the router (listeners with one agent have none)."""
        if self._selector is None or len(self.targets) < 2:
            return
        note = record.router = RoutingNote("agent")
        note.duration_ns = time.perf_counter_ns() - start
        note.selected = picked[0].id
        note.fallback = fallback

    async def _pick(
        self, messages: Sequence[Any], headers: Headers, memo: EmbeddingMemo | None = None
    ) -> tuple[list[AgentTarget], bool]:
        """The agents to run, and whether the router named none (the default agent runs)."""
        assert self.fallback is not None
        if len(self.targets) == 1 or self._selector is None:
            return [self.fallback], False
        try:
            ids = await self._selector.select(messages, self.routes, headers, memo)
        except PlanoError as err:
            raise AgentChainError(err.message, 500, ["orchestrator"]) from err
        picked = []
        for agent_id in ids:
            target = self.targets.get(agent_id)
            if target is None:
                raise AgentChainError(
                    f"orchestrator selected unknown agent '{agent_id}'", 500, ["orchestrator"]
                )
            picked.append(target)
        return (picked, False) if picked else ([self.fallback], True)

    async def run_filters(
        self,
        target: AgentTarget,
        model: Any,
        messages: list[Any],
        headers: Headers,
        record: RequestRecord | None = None,
        memo: EmbeddingMemo | None = None,
    ) -> list[Any]:
        """The conversation after the agent's input filters (unchanged when it has none);
        `memo`: the request's embeddings, shared with the selection."""
        if target.chain is None:
            return messages
        body = orjson.dumps({"model": model, "messages": messages})
        try:
            ctx = FilterContext(record, memo)
            out = await target.chain.run(
                body, FILTER_PATH, headers, telemetry=self._telemetry, record=record, ctx=ctx
            )
        except FilterRejected as err:
            raise AgentClientError(err.filter_id, err.status, err.body) from err
        except BadRequest:  # a built-in filter's own 400 (a PII block), in the client's dialect
            raise
        except PlanoError as err:
            raise AgentChainError(err.message, 502, [*target.chain.ids, target.id]) from err
        try:
            doc = orjson.loads(out)
        except orjson.JSONDecodeError as exc:
            raise AgentChainError(
                f"Input filter returned invalid request: {exc}", 400, target.chain.ids
            ) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("messages"), list):
            raise AgentChainError(
                "Input filter returned invalid request: no `messages` list", 400, target.chain.ids
            )
        return doc["messages"]  # type: ignore[no-any-return]

    @asynccontextmanager
    async def call(
        self,
        target: AgentTarget,
        path: str,
        body: bytes,
        headers: Headers,
        record: RequestRecord | None = None,
    ) -> AsyncIterator[UpstreamResponse]:
        """POST to the agent; 4xx and 5xx answers become errors before anything is relayed.
        The agent's span lasts until the caller leaves the block (the relay included)."""
        span = self._span(record, n.SPAN_AGENT.format(target.id, path), n.SERVICE_AGENT)
        sent = [
            *with_traceparent(headers, span.traceparent),
            ("x-arch-upstream", target.id),
            ("x-envoy-max-retries", "3"),
        ]
        attributes: dict[str, Any] = {n.ATTR_AGENT_ID: target.id}
        error: str | None = None
        try:
            resp = await self._open(target, path, sent, body)
            try:
                attributes[n.ATTR_HTTP_STATUS] = resp.status
                if resp.status >= 400:
                    data = await resp.read()
                    if resp.status < 500:
                        raise AgentClientError(target.id, resp.status, data)
                    raise AgentChainError(
                        f"agent '{target.id}' answered {resp.status}", 502, [target.id]
                    )
                yield resp
            finally:
                resp.release()
        except (AgentClientError, AgentChainError) as err:
            error = err.code
            raise
        except PlanoError as err:
            error = err.code
            raise AgentChainError(err.message, err.status, [target.id]) from err
        finally:
            span.end(error=error, attributes=attributes)

    async def _open(
        self, target: AgentTarget, path: str, sent: Headers, body: bytes
    ) -> UpstreamResponse:
        """The agent's response head; with a retry policy, failed attempts (connect, timeout,
        a retriable status) are retried before anything reaches the client."""
        policy, url, retry = target.retry, target.base + path, 0
        while True:
            try:
                resp = await self._transport.send(b"POST", url, sent, body, self._limits)
            except PlanoError as err:
                retry += 1
                if policy is None or retry > policy.num_retries:
                    raise
                if not policy.retriable(_outcome(err)):
                    raise
                log.info("agent %s failed (%s); retry %d", target.id, err.message, retry)
                await asyncio.sleep(policy.backoff(retry))
                continue
            retry += 1
            if (
                policy is not None
                and retry <= policy.num_retries
                and policy.retriable(Outcome.STATUS, resp.status)
            ):
                try:
                    await resp.read()
                except PlanoError:
                    pass  # the next attempt is what counts
                finally:
                    resp.release()
                log.info("agent %s answered %d; retry %d", target.id, resp.status, retry)
                await asyncio.sleep(policy.backoff(retry))
                continue
            return resp


def _outcome(err: PlanoError) -> Outcome:
    if isinstance(err, UpstreamTimeout):
        return Outcome.TIMEOUT
    if isinstance(err, UpstreamConnectFailed):
        return Outcome.CONNECT
    return Outcome.RESET


async def reply_text(resp: UpstreamResponse) -> str:
    """An intermediate agent's whole answer as text (an event stream's deltas joined)."""
    if resp.content_type == "text/event-stream":
        decoder = SseDecoder()
        parts: list[str] = []
        async for chunk in resp.chunks():
            for event in decoder.feed(chunk):
                parts.append(_delta_text(event.data))
        return "".join(parts)
    data = await resp.read()
    try:
        doc = orjson.loads(data)
        content = doc["choices"][0]["message"]["content"]
        if isinstance(content, str):
            return content
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        pass
    return data.decode("utf-8", "replace")


def _delta_text(data: str) -> str:
    if not data or data == "[DONE]":
        return ""
    try:
        delta = orjson.loads(data)["choices"][0]["delta"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError):
        return ""
    content = delta.get("content") if isinstance(delta, dict) else None
    return content if isinstance(content, str) else ""


def with_reply(messages: list[Any], agent: str, text: str) -> list[Any]:
    """The history with an agent's answer inserted before the final user message."""
    reply = {"role": "assistant", "name": agent, "content": text}
    last_user = max(
        (i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"),
        default=len(messages),
    )
    return [*messages[:last_user], reply, *messages[last_user:]]


def base_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
