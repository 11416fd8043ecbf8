"""The model listener's stages between decoding and relaying (see `listener` for their order).

Each is built once from the config; the listener leaves out (compiles to `None`) every stage the
config does not use.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Final

from plano.errors import PlanoError
from plano.filters.chain import Chain
from plano.listeners.model.build import TRACE_HEADERS, Builder, decode_view
from plano.listeners.model.call import ModelCall
from plano.listeners.model.filtered import filter_headers
from plano.listeners.model.translated import TranslatedExchange
from plano.listeners.model.translation import continue_conversation
from plano.listeners.pipeline import DONE, Call, Outcome, Stage, SyncStage
from plano.listeners.types import RawHeaders
from plano.observability import names as n
from plano.observability.telemetry import Telemetry
from plano.routing.step import Routed, RoutingStep, wants_routing
from plano.state.conversations import ConversationStore
from plano.state.deadline import budget, time_left
from plano.upstream.exchange import Exchange
from plano.upstream.ratelimit import RateLimiter
from plano.wire.api import request_object

log = logging.getLogger("plano.state")

# The routing session's write after the response (the session cache's own calls are capped lower).
SESSION_WRITE_CAP_S: Final = 1.0


class InputFilters(Stage[ModelCall]):
    """The listener's input filter chain on the request body; a changed body is decoded again,
    view included (a filter may change the model or `stream`; a filter's 4xx answer ends the
    request in the original's shape)."""

    def __init__(self, chain: Chain, telemetry: Telemetry) -> None:
        self.chain = chain
        self._telemetry = telemetry

    async def __call__(self, call: ModelCall) -> Outcome:
        record = call.record
        before = call.body
        body = await self.chain.run(
            before,
            call.path,
            filter_headers(record),
            telemetry=self._telemetry,
            record=record,
            ctx=call.filter_context(),
        )
        if body is not before and body != before:
            call.body = body
            call.doc = request_object(body)
            return decode_view(call)
        return None


class KeepBody(SyncStage[ModelCall]):
    """The request body as sent upstream, kept for PostHog's `$ai_input` (only when it
    captures messages)."""

    def __call__(self, call: ModelCall) -> Outcome:
        call.record.request_body = call.body
        return None


class Route(Stage[ModelCall]):
    """Preference routing (configured, or inline `routing_preferences` in this body), in a
    `routing` span when tracing is on (the router model's call is its child)."""

    def __init__(self, step: RoutingStep, telemetry: Telemetry) -> None:
        self._step = step
        self._telemetry = telemetry

    async def __call__(self, call: ModelCall) -> Outcome:
        if not wants_routing(self._step, call.doc):
            return None
        if not self._telemetry.traced:
            memo = call.filter_context().embeddings  # the guard's embeddings, if it ran
            call.routed = await self._step.route(call.doc, call.api, call.scope["headers"], memo)
            return None
        call.routed = await self._traced(call)
        return None

    async def _traced(self, call: ModelCall) -> Routed:
        record = call.record
        span = self._telemetry.child(record, n.SPAN_ROUTING, n.SERVICE_ROUTING, "internal")
        headers = [kv for kv in call.scope["headers"] if kv[0] not in TRACE_HEADERS]
        if span.traceparent:
            headers.append((b"traceparent", span.traceparent.encode()))
            if record.tracestate:
                headers.append((b"tracestate", record.tracestate.encode()))
        requested = call.doc.get("model")
        started = time.perf_counter_ns()
        try:
            memo = call.filter_context().embeddings
            routed = await self._step.route(call.doc, call.api, headers, memo)
        except PlanoError as err:
            span.end(error=err.kind)
            raise
        d = routed.decision
        attrs: dict[str, Any] = {
            n.ATTR_ROUTING_DETERMINATION_MS: (time.perf_counter_ns() - started) // 1_000_000,
            n.ATTR_ROUTING_DECISION: d.reason,
        }
        if isinstance(requested, str):
            attrs[n.ATTR_MODEL_REQUESTED] = requested
        if d.model:
            attrs[n.ATTR_ROUTE_SELECTED_MODEL] = d.model
        if d.route:
            attrs[n.ATTR_ROUTE_NAME] = d.route
        span.end(attributes=attrs)
        return routed


class ContinueConversation(Stage[ModelCall]):
    """A Responses client continuing a stored conversation (`previous_response_id`) on a
    provider of another API: the stored turns are prepended and the request encoded again."""

    def __init__(
        self, store: ConversationStore | None, builder: Builder, timeout: float | None = None
    ) -> None:
        self._store = store
        self._builder = builder
        self._timeout = timeout  # the listener's request deadline: the store read fits in it

    async def __call__(self, call: ModelCall) -> Outcome:
        up = call.upstream
        assert up is not None
        tr = up.translation
        if tr is None or tr.request.previous_response_id is None:
            return None
        t = self._timeout
        within = None if t is None else time_left(call.record.start, t)
        await continue_conversation(self._store, tr, within)
        call.upstream = self._builder.for_call(call, up.resolved, up)
        return None


class RateLimit(Stage[ModelCall]):
    """`ratelimits`: the request's selector (header) against the chosen model's limits."""

    def __init__(self, limiter: RateLimiter) -> None:
        self._limiter = limiter

    async def __call__(self, call: ModelCall) -> Outcome:
        selector = self._limiter.applicable(call.scope["headers"])
        if selector is not None:
            up = call.upstream
            assert up is not None
            r = up.resolved
            names = (r.model_id, r.name, r.cluster.name)
            await self._limiter.check(selector, names, r.cluster.provider, up.doc)
        return None


class CountTokens(Stage[ModelCall]):
    """Anthropic `count_tokens` on a provider without the endpoint: the gateway's estimate."""

    def __init__(self, translated: TranslatedExchange) -> None:
        self._translated = translated

    async def __call__(self, call: ModelCall) -> Outcome:
        up = call.upstream
        assert up is not None
        if up.translation is None or not up.translation.count_only:
            return None
        await self._translated.count(call.send, up.translation, call.ours())
        return DONE


class Send(Stage[ModelCall]):
    """The exchange: retries, endpoints and fallbacks as configured; the answer it commits to
    is held by the call (released when the request ends) for the relay."""

    def __init__(self, exchange: Exchange) -> None:
        self._exchange = exchange

    async def __call__(self, call: ModelCall) -> Outcome:
        up = call.upstream
        assert up is not None
        got = await self._exchange.commit(up, call.record, call.requested)
        if isinstance(got, PlanoError):
            return got
        call.committed = call.held = got
        call.upstream = got.up  # a fallback model or another endpoint may have answered
        return None


class RememberTurn(Stage[ModelCall]):
    """After the answer reached the client: the routing session remembers the turn's real
    prompt size (routing configured only). The session cache write is bounded by
    `SESSION_WRITE_CAP_S` (and by the request's time left when `timeout` is given); past that it
    is dropped, logged and counted (the record's `session_cache_error`): the response, already
    sent, is unaffected."""

    def __init__(self, step: RoutingStep, timeout: float | None = None) -> None:
        self._step = step
        self._timeout = timeout

    async def __call__(self, call: ModelCall) -> Outcome:
        routed = call.routed
        if routed is not None:
            record = call.record
            ok = 200 <= record.upstream_status < 300 and record.error_kind is None
            t = self._timeout
            limit = budget(SESSION_WRITE_CAP_S, None if t is None else time_left(record.start, t))
            try:
                async with asyncio.timeout(limit):
                    await self._step.after_response(routed, record.prompt_tokens, ok)
            except TimeoutError:
                record.session_cache_error = self._step.cache.backend
                log.warning("session cache: write after the response took over %.3gs", limit)
        return None


class ListModels(Stage[Call]):
    """`GET /v1/models`: the configured models, prebuilt at load."""

    def __init__(self, body: bytes) -> None:
        self._headers: RawHeaders = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        self._body = body

    async def __call__(self, call: Call) -> Outcome:
        await call.send({"type": "http.response.start", "status": 200, "headers": self._headers})
        await call.send({"type": "http.response.body", "body": self._body})
        return DONE
