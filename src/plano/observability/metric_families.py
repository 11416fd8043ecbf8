"""The gateway's own Prometheus metric families (reference §9.2 where the original has one, plus the
gateway's overhead, resilience and exporter families) and their histogram buckets.

`MetricFamilies` only defines them; `PrometheusMetrics` records finished requests into them and
`RoutingFamilies` holds the routing, session and prompt-cache families.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from plano.observability import names as n

# Buckets (seconds). HTTP and LLM buckets are the original's.
HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LLM_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TPOT_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0)
OVERHEAD_BUCKETS: Final = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip


class MetricFamilies:
    """The families, registered in `reg` (`None`: prometheus-client's multiprocess files)."""

    def __init__(self, reg: CollectorRegistry | None) -> None:
        http = (n.LABEL_LISTENER, n.LABEL_HANDLER)
        pm = (n.LABEL_PROVIDER, n.LABEL_MODEL)
        self.http_requests = Counter(
            n.METRIC_HTTP_REQUESTS,
            "HTTP requests served, by listener, handler, method and status class.",
            (*http, n.LABEL_METHOD, n.LABEL_STATUS_CLASS),
            registry=reg,
        )
        self.http_duration = Histogram(
            n.METRIC_HTTP_DURATION,
            "Wall-clock duration of HTTP requests (whole stream for streams).",
            http,
            buckets=HTTP_BUCKETS,
            registry=reg,
        )
        self.http_in_flight = Gauge(
            n.METRIC_HTTP_IN_FLIGHT,
            "HTTP requests being served.",
            http,
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.overhead = Histogram(
            n.METRIC_OVERHEAD,
            "Time the gateway added to whole (non-stream) responses: duration minus upstream time.",
            http,
            buckets=OVERHEAD_BUCKETS,
            registry=reg,
        )
        self.upstream_requests = Counter(
            n.METRIC_UPSTREAM_REQUESTS,
            "LLM upstream calls, by provider, model, status class and error class.",
            (*pm, n.LABEL_STATUS_CLASS, n.LABEL_ERROR_CLASS),
            registry=reg,
        )
        self.upstream_duration = Histogram(
            n.METRIC_UPSTREAM_DURATION,
            "Duration of LLM upstream calls (to the end of the stream for streams).",
            pm,
            buckets=LLM_BUCKETS,
            registry=reg,
        )
        self.ttft = Histogram(
            n.METRIC_TTFT,
            "Time from sending an upstream request to its first streamed chunk (streams only).",
            pm,
            buckets=LLM_BUCKETS,
            registry=reg,
        )
        self.tpot = Histogram(
            n.METRIC_TPOT,
            "Time per output token of successful upstream calls that reported usage.",
            pm,
            buckets=TPOT_BUCKETS,
            registry=reg,
        )
        self.added_ttfc = Histogram(
            n.METRIC_ADDED_TTFC,
            "Time the gateway added to a stream's first chunk (client's wait minus upstream's).",
            pm,
            buckets=OVERHEAD_BUCKETS,
            registry=reg,
        )
        self.tokens = Counter(
            n.METRIC_TOKENS,
            "Tokens reported in upstream usage, by kind (prompt, completion, cache_read).",
            (*pm, n.LABEL_KIND),
            registry=reg,
        )
        self.cost = Counter(
            n.METRIC_COST,
            "USD the upstreams billed, from their reported usage and the price table.",
            (*pm, n.LABEL_KEY, n.LABEL_TEAM),
            registry=reg,
        )
        self.usage_missing = Counter(
            n.METRIC_USAGE_MISSING,
            "Successful upstream responses without a usage block (token counts unknown).",
            pm,
            registry=reg,
        )
        self.active_streams = Gauge(
            n.METRIC_ACTIVE_STREAMS,
            "Event streams being relayed to clients.",
            pm,
            registry=reg,
            multiprocess_mode="livesum",
        )
        self.errors = Counter(
            n.METRIC_ERRORS,
            "Requests that ended in an error, by listener, provider and error kind.",
            (n.LABEL_LISTENER, n.LABEL_PROVIDER, n.LABEL_KIND),
            registry=reg,
        )
        self.retries = Counter(
            n.METRIC_RETRIES, "Upstream calls retried (same model).", pm, registry=reg
        )
        self.ejections = Counter(
            n.METRIC_EJECTIONS,
            "Upstream endpoints ejected from load balancing after failures.",
            pm,
            registry=reg,
        )
        self.ratelimited_requests = Counter(
            n.METRIC_RATELIMITED, "Requests refused by a rate limit (429).", pm, registry=reg
        )
        self.guard_verdicts = Counter(
            n.METRIC_GUARD_VERDICTS,
            "Guard filter verdicts (pass, flag, block, redact, skipped), by filter and source.",
            (n.LABEL_FILTER, n.LABEL_VERDICT, n.LABEL_SOURCE),
            registry=reg,
        )
        self.routing_decisions = Counter(
            n.METRIC_ROUTING_DECISIONS,
            "Preference-routing decisions, by outcome (routed, no_route, router_error, pinned...).",
            (n.LABEL_REASON,),
            registry=reg,
        )
        self.session_cache_errors = Counter(
            n.METRIC_SESSION_CACHE_ERRORS,
            "Requests whose session-cache lookup or write failed (routed without stickiness).",
            (n.LABEL_BACKEND,),
            registry=reg,
        )
        self.failovers = Counter(
            n.METRIC_FAILOVERS, "Requests handed to a fallback model.", pm, registry=reg
        )
        self.breaker_rejections = Counter(
            n.METRIC_BREAKER_REJECTIONS,
            "Upstream calls refused because the provider's circuit breaker was full.",
            pm,
            registry=reg,
        )
        self.first_token_timeouts = Counter(
            n.METRIC_FIRST_TOKEN_TIMEOUTS,
            "Streamed attempts abandoned because no first token came within first_token.",
            pm,
            registry=reg,
        )
        self.health_skips = Counter(
            n.METRIC_HEALTH_SKIPS,
            "Attempts not made because the provider's circuit was open (a fallback served).",
            pm,
            registry=reg,
        )
        self.circuit_state = Gauge(
            n.METRIC_CIRCUIT_STATE,
            "A provider's circuit: 0 closed, 1 open, 2 half-open (the highest of the workers).",
            (n.LABEL_PROVIDER,),
            registry=reg,
            multiprocess_mode="max",
        )
        self.circuit_changes = Counter(
            n.METRIC_CIRCUIT_CHANGES,
            "Changes of a provider's circuit, by the state entered.",
            (n.LABEL_PROVIDER, n.LABEL_STATE),
            registry=reg,
        )
        self.resets = Counter(
            n.METRIC_RESETS,
            "Attempts whose connection closed or reset before the answer (after the request was "
            "written: never resent by the pool, retried only by the retry policy).",
            pm,
            registry=reg,
        )
        self.ratelimit_backend_errors = Counter(
            n.METRIC_RATELIMIT_BACKEND_ERRORS,
            "Rate-limit decisions the backend could not make, by backend and the decision taken.",
            (n.LABEL_BACKEND, n.LABEL_DECISION),
            registry=reg,
        )
        self.posthog_events = Counter(
            n.METRIC_POSTHOG_EVENTS,
            "PostHog $ai_generation events, by outcome (sent, failed, dropped).",
            (n.LABEL_OUTCOME,),
            registry=reg,
        )
        self.pii_entities = Counter(
            n.METRIC_PII_ENTITIES,
            "PII found in requests by PII filters, by filter id, entity type and action taken.",
            (n.LABEL_FILTER, n.LABEL_ENTITY, n.LABEL_ACTION),
            registry=reg,
        )
        self.prompt_target_calls = Counter(
            n.METRIC_PROMPT_TARGET_CALLS,
            "Prompt-listener requests, by prompt target and outcome (called, clarification,"
            " default, no_intent, endpoint_error, ...).",
            (n.LABEL_TARGET, n.LABEL_OUTCOME),
            registry=reg,
        )
        where = (n.LABEL_LISTENER, n.LABEL_MODEL, n.LABEL_ROUTE, n.LABEL_AGENT)
        self.signals = Counter(
            n.METRIC_SIGNALS,
            "Agentic signal instances found in analysed conversations, by layer and category.",
            (n.LABEL_LAYER, n.LABEL_CATEGORY, *where),
            registry=reg,
        )
        self.signals_conversations = Counter(
            n.METRIC_SIGNALS_CONVERSATIONS,
            "Conversations analysed for agentic signals, by quality bucket.",
            (n.LABEL_QUALITY, *where),
            registry=reg,
        )
        self.signals_skipped = Counter(
            n.METRIC_SIGNALS_SKIPPED,
            "Requests not analysed for signals, by reason (queue_full, budget, error).",
            (n.LABEL_REASON,),
            registry=reg,
        )
        self.build_info = Gauge(
            n.METRIC_BUILD_INFO,
            "Always 1; the label carries the gateway version.",
            (n.LABEL_VERSION,),
            registry=reg,
            multiprocess_mode="max",
        )
