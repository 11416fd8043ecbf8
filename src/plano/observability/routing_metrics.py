"""The original's routing, session and prompt-cache metric families (reference §9.2).

`RoutingFamilies` belongs to `PrometheusMetrics`: it turns the `RoutingNote` a finished request
carries into samples, with the same accumulate-then-flush children as the other families. A
request that went through no routing step has no note and costs one `is None` check.

Label values are code constants and configured names: model names the routing step chose from
the config, agent ids, and (on a router fallback) the model that served, which a wildcard
provider may take from the client; `selected_model` is therefore capped at `MAX_SELECTED`
distinct values, the rest count as `other`.
"""

from __future__ import annotations

from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram

from plano.observability import names as n
from plano.observability.accumulators import Accumulators, Hist
from plano.observability.record import RoutingNote

# The original's router histogram: 5 ms to 30 s.
ROUTER_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
MAX_SELECTED: Final = 256
_OTHER: Final = "other"
_NONE: Final = "none"
_NS: Final = 1e9


class RoutingFamilies:
    def __init__(self, reg: CollectorRegistry | None, acc: Accumulators) -> None:
        self._acc = acc
        self._durations: dict[str, Hist] = {}
        self._selected: set[str] = set()
        self.decisions = Counter(
            n.METRIC_ROUTER_DECISIONS,
            "Routing decisions, by route (llm, agent, routing), selected model or agent, and"
            " whether the router chose nothing (fallback to the requested/default one).",
            (n.LABEL_ROUTE, n.LABEL_SELECTED_MODEL, n.LABEL_FALLBACK),
            registry=reg,
        )
        self.duration = Histogram(
            n.METRIC_ROUTER_DURATION,
            "Time a routing decision took (session lookup, router call, budget gate).",
            (n.LABEL_ROUTE,),
            buckets=ROUTER_BUCKETS,
            registry=reg,
        )
        self.skips = Counter(
            n.METRIC_ROUTER_SKIPS,
            "Requests that skipped the router (not_user_turn: route_on_user_only replay).",
            (n.LABEL_REASON,),
            registry=reg,
        )
        self.service = Counter(
            n.METRIC_ROUTING_SERVICE,
            "Routing decision API requests, by outcome (decision_served, no_candidates,"
            " policy_error, bad_request).",
            (n.LABEL_OUTCOME,),
            registry=reg,
        )
        self.session_cache = Counter(
            n.METRIC_SESSION_CACHE_EVENTS,
            "Session cache operations, by outcome (hit, miss, store, error, store_error).",
            (n.LABEL_OUTCOME,),
            registry=reg,
        )
        self.bindings = Counter(
            n.METRIC_SESSION_BINDING_EVENTS,
            "Session binding events (refresh: updated with the real prompt size after a turn).",
            (n.LABEL_EVENT,),
            registry=reg,
        )
        self.switches = Counter(
            n.METRIC_SESSION_SWITCHES,
            "Routing-budget decisions on a warm session's model switch (allowed or retained).",
            (n.LABEL_DECISION, n.LABEL_REASON),
            registry=reg,
        )
        self.prompt_cache = Counter(
            n.METRIC_PROMPT_CACHE,
            "Successful upstream responses with usage while prompt caching is enabled: hit when"
            " the provider reported cached (cache-read) prompt tokens, else miss.",
            (n.LABEL_PROVIDER, n.LABEL_MODEL, n.LABEL_OUTCOME),
            registry=reg,
        )

    def record(self, note: RoutingNote) -> None:
        """Everything one routing step did."""
        if note.skip is not None:
            self._inc(self.skips, note.skip)
        elif note.duration_ns:
            fallback = "true" if note.fallback else "false"
            self._inc(self.decisions, note.kind, self._bounded(note.selected), fallback)
            self._duration(note.kind).observe(note.duration_ns / _NS)
        for outcome in note.session_events:
            self._inc(self.session_cache, outcome)
        if note.refreshes:
            self._inc(self.bindings, n.BINDING_REFRESH, amount=note.refreshes)
        if note.switch is not None:
            self._inc(self.switches, *note.switch)
        if note.outcome is not None:
            self._inc(self.service, note.outcome)

    def prompt_cached(self, provider: str, model: str, hit: bool) -> None:
        self._inc(self.prompt_cache, provider, model, "hit" if hit else "miss")

    def _inc(self, counter: Counter, *values: str, amount: int = 1) -> None:
        self._acc.labelled(counter, *values).n += amount

    def _duration(self, kind: str) -> Hist:
        found = self._durations.get(kind)
        if found is None:
            child = self.duration.labels(kind)
            found = self._durations[kind] = self._acc.hist(child, ROUTER_BUCKETS)
        return found

    def _bounded(self, selected: str | None) -> str:
        if selected is None:
            return _NONE
        if selected in self._selected:
            return selected
        if len(self._selected) >= MAX_SELECTED:
            return _OTHER
        self._selected.add(selected)
        return selected
