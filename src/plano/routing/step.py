"""The routing step: what the model listener (and the routing decision API) run before resolving.

Order per request: take inline `routing_preferences` out of the body; find the session (explicit
header, or implied by the prompt prefix); a warm explicit session is pinned to its anchor, a
non-user turn under `route_on_user_only` replays it; otherwise ask the router backend which route
fits, take the route's best-ranked model, let the routing budget veto a switch away from a warm
anchor, and remember the outcome for the session. Any router failure falls back to the model the
request asked for (or the default), so routing can degrade but never fail a request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from plano.access.pricing import PriceTable
from plano.config import Config, RoutingBudgetConfig
from plano.embedding.memo import EmbeddingMemo
from plano.embedding.shared import settle
from plano.errors import ModelNotFound
from plano.observability import names as n
from plano.observability.record import RequestRecord, RoutingNote
from plano.providers.catalogue import Api
from plano.routing.affinity import implicit_session, prefix_hash
from plano.routing.conversation import Conversation, conversation_of
from plano.routing.decision import (
    Decision,
    FallbackRouter,
    RouteChoice,
    Router,
    RouterFailed,
)
from plano.routing.embedded import EmbeddedRouter, RouterSettings
from plano.routing.metrics_sources import MetricsFeeds
from plano.routing.orchestrator import OrchestratorRouter
from plano.routing.preferences import ModelMetrics, PreferenceSet, from_config, from_request
from plano.routing.prompt_caching import MIN_TOKENS, has_markers, inject
from plano.routing.resolve import ModelTable, Resolved
from plano.routing.session import Binding, budget_attributes, gate, grow_baseline, parse_pct
from plano.state.session_cache import MemorySessionCache, RedisSessionCache, SessionCache
from plano.upstream.clusters import Cluster
from plano.upstream.transport import Transport
from plano.wire.api import request_object

log = logging.getLogger("plano.routing")
# A backend's reason for choosing no route -> the decision's reason (anything else: no_route).
_NO_ROUTE_REASONS: Final = {
    "error": "router_error",
    "embedded:overloaded": "router_error",  # the process's embedding gate was full
    "no_preferences": "no_preferences",
}

HEADER_AFFINITY: Final = b"x-model-affinity"
HEADER_CACHE: Final = b"x-plano-cache"
HEADER_SPEND_PCT: Final = b"x-plano-max-switch-spend-pct"
_FORWARDED_TO_ROUTER: Final = frozenset({b"x-request-id", b"traceparent", b"tracestate"})


@dataclass(slots=True)
class Routed:
    """The body (inline preferences removed) and the decision."""

    doc: dict[str, Any]
    decision: Decision
    prefix_hash: str | None
    changed: bool  # the body changed (inline preferences removed, cache markers added)
    api: Api = Api.OPENAI_CHAT
    inject_cache: bool = False  # add prompt-cache markers once the upstream is known
    key: str | None = None  # the session cache key
    binding: Binding | None = None  # the session's binding as stored for this request
    note: RoutingNote | None = None  # what the step did, for metrics

    @property
    def response_headers(self) -> tuple[tuple[bytes, bytes], ...]:
        """What the client learns about the decision (`x-plano-route`, `x-plano-routing`)."""
        d = self.decision
        out = [
            (b"x-plano-route", (d.route or "none").encode()),
            (b"x-plano-routing", d.reason.encode()),
        ]
        if d.router:
            out.append((b"x-plano-router", d.router.encode()))
        if d.session_id:
            out.append((b"x-plano-session-id", d.session_id.encode()))
        return tuple(out)


class RoutingStep:
    def __init__(
        self,
        config: Config,
        router: Router,
        cache: SessionCache,
        metrics: ModelMetrics | None = None,
        transport: Transport | None = None,
    ) -> None:
        routing = config.routing
        self.router = router
        self.cache = cache
        self.metrics = metrics or ModelMetrics()
        self._feeds = MetricsFeeds.of(config, self.metrics, transport)
        self._warned = False
        self._warmup: asyncio.Future[None] | None = None
        self._prefs = from_config(config.routing_preferences)
        self._ttl = routing.session_ttl_seconds
        self._budget: RoutingBudgetConfig | None = routing.routing_budget
        self._user_only = routing.route_on_user_only
        self._tenant = (
            routing.session_cache.tenant_header.lower().encode()
            if routing.session_cache.tenant_header
            else None
        )
        pc = config.prompt_caching
        self._inject = pc.enabled and pc.inject_cache_control
        self._min_prefix = max(pc.min_prefix_tokens, MIN_TOKENS)
        # Cache-warm stickiness: a warm implicit session stays put unless a budget decides.
        self._sticky = pc.enabled and pc.session_affinity and self._budget is None
        self._implicit = bool(
            (pc.enabled and pc.session_affinity)
            or self._budget is not None
            or (self._user_only and self._prefs)
        )

    @property
    def configured(self) -> bool:
        """Every request goes through routing (else only bodies with inline preferences)."""
        return bool(self._prefs) or self._inject

    async def route_body(
        self, body: bytes, api: Api, headers: Sequence[tuple[bytes, bytes]]
    ) -> Routed:
        return await self.route(request_object(body), api, headers)

    async def route(
        self,
        doc: dict[str, Any],
        api: Api,
        headers: Sequence[tuple[bytes, bytes]],
        memo: EmbeddingMemo | None = None,
    ) -> Routed:
        """Decide for one request; `memo` is the request's embeddings (shared with the guard)."""
        inline = doc.pop("routing_preferences", None)
        prefs = from_request(inline) if inline is not None else self._prefs
        requested = doc.get("model") if isinstance(doc.get("model"), str) else None
        hdr = _headers(headers)
        conv = conversation_of(doc, api)
        cache_off = hdr.get(HEADER_CACHE, b"").lower() == b"off"
        tenant = hdr.get(self._tenant, b"").decode("latin-1") if self._tenant else ""
        prefix = prefix_hash(conv, tenant)  # drift check; sent upstream unless the cache is off
        explicit = hdr.get(HEADER_AFFINITY)
        session = explicit.decode("latin-1") if explicit else None
        pct = parse_pct(_text(hdr.get(HEADER_SPEND_PCT)))
        if session is None and not cache_off and (self._implicit or pct is not None):
            session = implicit_session(conv, tenant)
        key = f"{tenant}:{session}" if session is not None and tenant else session
        failures = self.cache.failures
        note = RoutingNote("llm")
        started = time.perf_counter_ns()
        decision, binding = await self._decide(
            prefs, conv, requested or "", hdr, session, key, prefix, pct, note, memo
        )
        if decision.reason == "not_user_turn":
            note.skip = "not_user_turn"
        elif decision.reason != "no_preferences":  # no preferences: nothing to decide
            note.duration_ns = time.perf_counter_ns() - started
            note.selected = decision.model
            note.fallback = decision.model is None
        if self.cache.failures != failures:
            decision = replace(decision, cache_error=self.cache.backend)
        _log(decision, requested)
        inject = (
            self._inject
            and not cache_off
            and _estimated_tokens(conv) >= self._min_prefix
            and not has_markers(doc)
        )
        sent_prefix = None if cache_off else prefix
        return Routed(
            doc, decision, sent_prefix, inline is not None, api, inject, key, binding, note
        )

    async def _decide(
        self,
        prefs: PreferenceSet,
        conv: Conversation,
        requested: str,
        hdr: Mapping[bytes, bytes],
        session: str | None,
        key: str | None,
        prefix: str,
        pct: float | None,
        note: RoutingNote,
        memo: EmbeddingMemo | None = None,
    ) -> tuple[Decision, Binding | None]:
        now = time.time()
        binding = await self._binding(key, note) if key is not None else None
        warm = binding is not None and binding.warm(now, self._ttl, requested, prefix)
        if warm and binding is not None:
            why = "pinned" if hdr.get(HEADER_AFFINITY) else None
            if why is None and self._sticky and pct is None:
                why = "cache_warm"
            if why is None and self._user_only and not conv.is_user_turn():
                why = "not_user_turn"
            if why is not None:
                binding.last_used = now
                await self._store(key, binding, note)
                return Decision(
                    binding.anchor_model, (binding.anchor_model,), binding.route_name, why,
                    session, pinned=True,
                ), binding  # fmt: skip
        choice = await self._select(prefs, conv, hdr, memo)
        pref = prefs.by_name.get(choice.route) if choice.route else None
        if pref is None:
            reason = _NO_ROUTE_REASONS.get(choice.reason, "no_route")
            decision = Decision(None, (), None, reason, session, router=choice.reason)
        else:
            metrics = await self._metrics() if pref.prefer != "none" else self.metrics
            ranked = pref.ranked(metrics)
            decision = Decision(
                ranked[0], ranked, pref.name, "routed", session, router=choice.reason
            )
        if key is None or decision.model is None:
            return decision, None
        if warm and binding is not None:
            await self._metrics()
            decision = self._apply_budget(binding, decision, conv, pct, now, note)
        else:
            fresh = Binding(decision.model or "", requested, decision.route, prefix, now)
            if binding is not None and self._budget and not self._budget.replenish_on_rebind:
                # A cold session rebinds but keeps what it already spent on switches.
                fresh.baseline_usd = binding.baseline_usd
                fresh.switch_spend_usd = binding.switch_spend_usd
            binding = fresh
        binding.last_used = now
        await self._store(key, binding, note)
        return decision, binding

    async def after_response(self, routed: Routed, prompt_tokens: int | None, ok: bool) -> None:
        """Remember the real prompt size of the turn (the context now cached at the model).

        Runs after the response reached the client, before the connection takes its next
        request, so a client's next turn sees it."""
        b = routed.binding
        model = routed.decision.model
        if b is None or routed.key is None or not ok or not prompt_tokens or model is None:
            return
        b.note_turn(model, time.time(), prompt_tokens)
        note = routed.note
        if note is not None:
            note.refreshes += 1
        await self._store(routed.key, b, note)

    async def _binding(self, key: str, note: RoutingNote) -> Binding | None:
        """The session's stored binding (None: none, or the cache failed)."""
        failures = self.cache.failures
        raw = await self.cache.get(key)
        if self.cache.failures != failures:
            note.session_events.append("error")
        else:
            note.session_events.append("hit" if raw else "miss")
        return Binding.from_json(raw) if raw else None

    def _apply_budget(
        self,
        b: Binding,
        d: Decision,
        conv: Conversation,
        pct: float | None,
        now: float,
        note: RoutingNote,
    ) -> Decision:
        budget = self._budget
        limit = pct if pct is not None else (budget.max_switch_spend_pct if budget else None)
        candidate = d.model or b.anchor_model
        if limit is not None and candidate == b.anchor_model:
            note.switch = ("allowed", "same_anchor")
        if limit is None or candidate == b.anchor_model:
            # No budget: a warm session follows the router (a switch moves the anchor).
            switched = candidate != b.anchor_model
            if switched:
                b.switches += 1
            b.anchor_model, b.route_name = candidate, d.route
            return replace(d, model=candidate, pinned=True, switched=switched)
        discount = budget.cache_read_discount if budget else 0.1
        tokens = b.cached_tokens or _estimated_tokens(conv)
        grow_baseline(b, self.metrics, tokens, discount)
        result = gate(
            b, candidate, self.metrics, context_tokens=tokens, pct=limit, discount=discount,
            candidate_warm_tokens=b.warm_tokens(candidate, now, self._ttl),
        )  # fmt: skip
        note.switch = ("allowed" if result.allow else "retained", result.reason)
        note.span = budget_attributes(b, result, limit, now)
        if not result.allow and budget is not None and budget.record_counterfactual:
            note.span[n.ATTR_SWITCH_COUNTERFACTUAL] = f"{candidate} ({d.route or 'none'})"
        if not result.allow:
            log.debug("routing budget kept %s over %s (%s)", b.anchor_model, candidate, result)
            models = (b.anchor_model, *(m for m in d.models if m != b.anchor_model))
            return replace(
                d, model=b.anchor_model, models=models, route=b.route_name, reason="retained",
                pinned=True, switched=False,
            )  # fmt: skip
        b.switches += 1
        b.anchor_model, b.route_name = candidate, d.route
        return replace(d, model=candidate, reason=result.reason, pinned=True, switched=True)

    async def _select(
        self,
        prefs: PreferenceSet,
        conv: Conversation,
        hdr: Mapping[bytes, bytes],
        memo: EmbeddingMemo | None = None,
    ) -> RouteChoice:
        if not prefs:
            return RouteChoice(None, "no_preferences")
        forwarded = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in hdr.items()
            if k in _FORWARDED_TO_ROUTER
        ]
        try:
            return await self.router.select(prefs, conv, forwarded, memo)
        except RouterFailed as err:
            log.warning("router failed, using the requested model: %s", err.message)
            return RouteChoice(None, "error")

    async def _store(self, key: str | None, binding: Binding, note: RoutingNote | None) -> None:
        if key is None:
            return
        failures = self.cache.failures
        await self.cache.put(key, binding.to_json(), self._ttl)
        if note is not None:
            failed = self.cache.failures != failures
            note.session_events.append("store_error" if failed else "store")

    async def start(self) -> None:
        """Start fetching the metrics sources and warming the embedded model and the route
        vectors (startup waits for that up to `STARTUP_WAIT_S`, then it goes on in the
        background)."""
        self._feeds.start()
        if self._prefs and isinstance(self.router, EmbeddedRouter):
            self._warmup = asyncio.ensure_future(self.router.warm_up(self._prefs))
            await settle(self._warmup)

    async def _metrics(self) -> ModelMetrics:
        """The metrics, once their first fetch is over (warns about models without data)."""
        if not self._feeds.loaded:
            await self._feeds.ready()
            self._warn_missing()
        return self.metrics

    def _warn_missing(self) -> None:
        if self._warned:
            return
        self._warned = True
        if self.metrics.cost or self.metrics.latency:
            missing = sorted(
                m
                for m in {m for p in self._prefs.routes for m in p.models}
                if self.metrics.price(m) is None and self.metrics.latency_of(m) is None
            )
            if missing:
                log.warning("model_metrics_sources have no data for %s", ", ".join(missing))

    async def close(self) -> None:
        if self._warmup is not None:
            self._warmup.cancel()
        await self._feeds.close()
        await self.cache.close()


def _estimated_tokens(conv: Conversation) -> int:
    return (len(conv.system) + len(conv.tools) + sum(len(t.text) for t in conv.turns)) // 4


def _headers(headers: Sequence[tuple[bytes, bytes]]) -> dict[bytes, bytes]:
    return {k: v for k, v in headers}


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _log(d: Decision, requested: str | None) -> None:
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "routing decision: requested=%s model=%s route=%s reason=%s session=%s pinned=%s"
            " switched=%s",
            requested, d.model, d.route, d.reason, d.session_id, d.pinned, d.switched,
        )  # fmt: skip


def build_router(config: Config, clusters: Sequence[Cluster], transport: Transport) -> Router:
    """The configured backend; `auto` uses the orchestrator only if the user declared it."""
    rc = config.routing.router
    model_id = config.overrides.routing_model_id
    target = next((c for c in clusters if c.model_id == model_id and not c.internal), None)
    embedded = EmbeddedRouter(RouterSettings.of(rc))
    if rc.type == "orchestrator" or (rc.type == "auto" and target is not None):
        target = target or next((c for c in clusters if c.model_id == model_id), None)
        if target is not None:
            orchestrator = OrchestratorRouter(
                target,
                transport,
                context_length=config.overrides.orchestrator_model_context_length,
                timeout=rc.timeout,
            )
            return (
                orchestrator
                if rc.type == "orchestrator"
                else FallbackRouter(orchestrator, embedded)
            )
        log.warning("no provider serves router model %s; using the embedded router", model_id)
    return embedded


def build_cache(config: Config) -> SessionCache:
    sc = config.routing.session_cache
    if sc.type == "redis" and sc.url:
        return RedisSessionCache(sc.url)
    return MemorySessionCache(config.routing.session_max_entries)


def build_step(
    config: Config,
    clusters: Sequence[Cluster],
    transport: Transport,
    prices: PriceTable | None = None,
) -> RoutingStep:
    """`prices`: the cost meter's table, shared so a cost feed prices requests too."""
    router = build_router(config, clusters, transport)
    metrics = ModelMetrics(prices=prices)
    return RoutingStep(config, router, build_cache(config), metrics, transport=transport)


def wants_routing(step: RoutingStep | None, doc: Mapping[str, Any]) -> bool:
    """Cheap pre-check on the hot path: configured preferences, or inline ones in this decoded
    body (a key lookup: searching the body's bytes cost 0.2 ms per MB of prompt)."""
    return step is not None and (step.configured or "routing_preferences" in doc)


def note_decision(record: RequestRecord, routed: Routed | None, resolved: Resolved) -> None:
    """What telemetry learns: `plano.route.name` (route or how the model resolved), the outcome."""
    if routed is None:
        record.route = resolved.via
        return
    d = routed.decision
    note = routed.note
    if note is not None:
        if note.fallback:
            note.selected = resolved.name  # the requested or default model that served
        record.router = note
    record.route = d.route or resolved.via
    record.routing = d.reason
    record.session_cache_error = d.cache_error
    record.session_id = d.session_id


def resolve_routed(models: ModelTable, requested: str | None, routed: Routed | None) -> Resolved:
    """The routed model's cluster; the requested (or default) model if routing chose none."""
    resolved = None
    if routed is not None and routed.decision.model:
        try:
            resolved = models.resolve(routed.decision.model)
        except ModelNotFound:
            log.warning("routed model %s is not configured; using the requested model",
                        routed.decision.model)  # fmt: skip
    if resolved is None:
        resolved = models.resolve(requested)
    if routed is not None and routed.inject_cache:
        c = resolved.cluster
        upstream_api = c.row.upstream_api(routed.api)
        same_api = upstream_api is routed.api
        if same_api and inject(routed.doc, upstream_api, c.provider, resolved.model_id):
            routed.changed = True
    return resolved
