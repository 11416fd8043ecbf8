"""Metrics of gateway keys: `plano_key_requests_total{key,team,outcome}` (outcome: allowed,
unauthenticated, forbidden, budget_exhausted, rate_limited; an unknown key counts under key
"") and `plano_key_budget_alerts_total{key,team}`. Registered beside the other families
(`PrometheusMetrics`), so `/metrics` shows them, with workers too. Label values are key names
and teams (set by whoever creates keys): bounded by `MAX_SERIES`, the rest count as `other`."""

from __future__ import annotations

from typing import Any, Final

from prometheus_client import Counter

from plano.observability import names as n
from plano.observability.accumulators import Count
from plano.observability.metrics import PrometheusMetrics

MAX_SERIES: Final = 2048


class KeyMetrics:
    def __init__(self, metrics: PrometheusMetrics) -> None:
        reg = None if metrics.multiprocess else metrics.registry
        self.requests = Counter(
            n.METRIC_KEY_REQUESTS,
            "Requests checked against gateway keys, by key name, team and outcome.",
            (n.LABEL_KEY, n.LABEL_TEAM, n.LABEL_OUTCOME),
            registry=reg,
        )
        self.alerts = Counter(
            n.METRIC_KEY_BUDGET_ALERTS,
            "Gateway keys whose spend crossed their budget's alert threshold.",
            (n.LABEL_KEY, n.LABEL_TEAM),
            registry=reg,
        )
        self._acc = metrics.accumulators  # counted on the loop, pushed at each flush
        self._counts: dict[tuple[str, str, str], Count] = {}

    def key_request(self, key: str, team: str, outcome: str) -> None:
        self.counter(key, team, outcome).n += 1

    def counter(self, key: str, team: str, outcome: str) -> Count:
        """The accumulator of one series (bounded: past `MAX_SERIES`, `other`)."""
        labels = (key, team, outcome)
        found = self._counts.get(labels)
        if found is None:
            if len(self._counts) >= MAX_SERIES:
                labels = ("other", "other", outcome)
            found = self._counts.get(labels)
            if found is None:
                found = self._counts[labels] = self._acc.count(self.requests.labels(*labels))
        return found

    def budget_alert(self, record: Any, spent: float) -> None:
        self.alerts.labels(record.name, record.team or "").inc()
