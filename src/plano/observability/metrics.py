"""Prometheus metrics: a `MetricsSink` that turns finished `RequestRecord`s into samples.

The families are defined in `metric_families` (and `routing_metrics`). Finishing a request only
adds to `accumulators` kept per label combination; they are pushed into prometheus-client's
metrics by `flush`, which runs on the event loop before every scrape and, with workers, every
second. Label values come from the config and the code, except model names that a wildcard
provider accepts from clients: those are capped at `MAX_MODEL_SERIES` distinct pairs, the rest
count as `other`.

With `--workers N` the values live in prometheus-client's multiprocess files (see `multiproc`)
and every worker's `/metrics` answers for the whole gateway, each worker's share at most
`FLUSH_SECONDS` old; with one worker they stay in memory and a scrape sees everything.
"""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import Iterable
from typing import Final

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector

from plano import __version__
from plano.observability import names as n
from plano.observability.accumulators import Accumulators, Count, Hist
from plano.observability.metric_families import (
    HTTP_BUCKETS,
    LLM_BUCKETS,
    OVERHEAD_BUCKETS,
    TPOT_BUCKETS,
    MetricFamilies,
)
from plano.observability.multiproc import active_dir
from plano.observability.record import RequestRecord
from plano.observability.routing_metrics import RoutingFamilies

FLUSH_SECONDS: Final = 1.0  # with workers: how stale one worker's share of a scrape may be
MAX_MODEL_SERIES: Final = 256
OTHER: Final = "other"
UNKNOWN: Final = "unknown"

_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_CLASSES: Final = ("other", "1xx", "2xx", "3xx", "4xx", "5xx")
# error_class values of the original; other record error kinds map to "other".
_ERROR_CLASSES: Final = frozenset({"timeout", "connect", "parse", "stream"})
_NS: Final = 1e9


def status_class(status: int) -> str:
    """`2xx`, `4xx`, ... for an HTTP status; `other` outside 100–599 (no response sent)."""
    return _CLASSES[status // 100] if 100 <= status < 600 else "other"


def upstream_classes(status: int, error_kind: str | None) -> tuple[str, str]:
    """(`status_class`, `error_class`) of an upstream call, as the original labels it: a call
    that got a response is classed by its status and has error class `none` (or `stream` when it
    broke mid-stream); a call without one has status class `error` and the failure's class."""
    if status:
        return status_class(status), "stream" if error_kind == "stream" else "none"
    if error_kind in _ERROR_CLASSES:
        return "error", error_kind
    return "error", "other"


class _Route:
    """Accumulators of the per-(listener, handler) families."""

    __slots__ = ("_acc", "_f", "_labels", "duration", "in_flight", "overhead", "requests")

    def __init__(self, f: MetricFamilies, acc: Accumulators, listener: str, handler: str) -> None:
        self._f = f
        self._acc = acc
        self._labels = (listener, handler)
        self.duration = acc.hist(f.http_duration.labels(listener, handler), HTTP_BUCKETS)
        self.in_flight = acc.count(f.http_in_flight.labels(listener, handler))
        self.overhead = acc.hist(f.overhead.labels(listener, handler), OVERHEAD_BUCKETS)
        self.requests: dict[tuple[str, int], Count] = {}

    def request_count(self, method: str, status: int) -> Count:
        label = method if method in _METHODS else OTHER
        key = (label, status)
        found = self.requests.get(key)
        if found is None:
            child = self._f.http_requests.labels(*self._labels, label, status_class(status))
            found = self.requests[key] = self._acc.count(child)
        return found


class _Model:
    """Accumulators of the per-(provider, model) families."""

    __slots__ = (
        "_acc",
        "_f",
        "_labels",
        "active_streams",
        "added_ttfc",
        "cache_read",
        "completion",
        "costs",
        "ejections",
        "outcomes",
        "prompt",
        "ratelimited",
        "retries",
        "tpot",
        "ttft",
        "upstream_duration",
        "usage_missing",
    )

    def __init__(self, f: MetricFamilies, acc: Accumulators, provider: str, model: str) -> None:
        labels = (provider, model)
        self._f = f
        self._acc = acc
        self._labels = labels
        self.upstream_duration = acc.hist(f.upstream_duration.labels(*labels), LLM_BUCKETS)
        self.ttft = acc.hist(f.ttft.labels(*labels), LLM_BUCKETS)
        self.tpot = acc.hist(f.tpot.labels(*labels), TPOT_BUCKETS)
        self.added_ttfc = acc.hist(f.added_ttfc.labels(*labels), OVERHEAD_BUCKETS)
        self.prompt = acc.count(f.tokens.labels(*labels, n.TOKENS_PROMPT))
        self.completion = acc.count(f.tokens.labels(*labels, n.TOKENS_COMPLETION))
        self.cache_read = acc.count(f.tokens.labels(*labels, n.TOKENS_CACHE_READ))
        self.usage_missing = acc.count(f.usage_missing.labels(*labels))
        self.active_streams = acc.count(f.active_streams.labels(*labels))
        self.retries = acc.count(f.retries.labels(*labels))
        self.ejections = acc.count(f.ejections.labels(*labels))
        self.ratelimited = acc.count(f.ratelimited_requests.labels(*labels))
        self.outcomes: dict[tuple[int, str | None], Count] = {}
        self.costs: dict[tuple[str | None, str | None], Count] = {}

    def cost(self, key: str | None, team: str | None) -> Count:
        """USD billed, by gateway key and team (None: no key)."""
        found = self.costs.get((key, team))
        if found is None:
            child = self._f.cost.labels(*self._labels, key or "", team or "")
            found = self.costs[(key, team)] = self._acc.count(child)
        return found

    def outcome(self, status: int, error_kind: str | None) -> Count:
        classes = upstream_classes(status, error_kind)
        child = self._f.upstream_requests.labels(*self._labels, *classes)
        found = self.outcomes[(status, error_kind)] = self._acc.count(child)
        return found


class PrometheusMetrics:
    """The `MetricsSink` of `Telemetry`, and the `/metrics` exposition of the admin listener.

    `models` are the configured (provider, model id) pairs: their series exist from the start
    (at 0), so rates and the retry/ejection/rate-limit counters are there before traffic is.
    `multiprocess_dir` switches exposition to prometheus-client's multiprocess collector; it must
    be the directory this process already writes to (`multiproc.active_dir()`).

    Not thread-safe: record and `flush` on the event loop; `render` may run in any thread.
    """

    def __init__(
        self,
        *,
        version: str = __version__,
        models: Iterable[tuple[str, str]] = (),
        multiprocess_dir: str | None = None,
        flush_seconds: float = FLUSH_SECONDS,
        prompt_caching: bool = False,
    ) -> None:
        self.registry = CollectorRegistry()
        self.multiprocess = multiprocess_dir is not None
        reg = None if multiprocess_dir is not None else self.registry
        if multiprocess_dir is not None:
            MultiProcessCollector(self.registry, path=multiprocess_dir)  # type: ignore[no-untyped-call]
        else:
            ProcessCollector(registry=self.registry)
        self.families = MetricFamilies(reg)
        # The PostHog exporter counts its events itself, into this family.
        self.posthog_events = self.families.posthog_events
        self._acc = Accumulators()
        self.routing = RoutingFamilies(reg, self._acc)
        self._prompt_caching = prompt_caching  # count prompt-cache hits and misses
        self.families.build_info.labels(version).set(1)
        self._flush_seconds = flush_seconds
        self._timer: asyncio.TimerHandle | None = None
        self._routes: dict[tuple[str, str], _Route] = {}
        self._models: dict[tuple[str | None, str | None], _Model] = {}
        self._errors: dict[tuple[str, str | None, str | None], Count] = {}
        self._in_flight: dict[int, Count] = {}
        self._streams: dict[int, Count] = {}
        for provider, model in models:
            self._model(provider, model)

    # -- MetricsSink ------------------------------------------------------------------------

    def request_started(self, record: RequestRecord) -> None:
        route = self._routes.get((record.listener, record.handler)) or self._route(record)
        route.in_flight.n += 1
        self._in_flight[id(record)] = route.in_flight

    def stream_started(self, record: RequestRecord) -> None:
        """An event stream began to flow to the client (counted until `request_finished`)."""
        level = self._model(record.provider, record.upstream_model or record.model).active_streams
        level.n += 1
        self._streams[id(record)] = level

    def request_finished(self, record: RequestRecord) -> None:
        r = record
        key = id(r)
        level = self._in_flight.pop(key, None)
        if level is not None:
            level.n -= 1
        level = self._streams.pop(key, None)
        if level is not None:
            level.n -= 1
        end = r.end or time.perf_counter_ns()
        route = self._routes.get((r.listener, r.handler)) or self._route(r)
        count = route.requests.get((r.method, r.status)) or route.request_count(r.method, r.status)
        count.n += 1
        route.duration.observe((end - r.start) / _NS)
        if r.upstream_sent:
            model = self._model(r.provider, r.upstream_model or r.model)
            self._upstream(r, model, end)
            if r.cost_usd is not None:
                model.cost(r.key_name, r.team).n += r.cost_usd
            if r.upstream_first_chunk:  # an event stream was relayed
                if r.downstream_first_chunk and r.stream:
                    model.added_ttfc.observe(r.overhead_ns() / _NS)
            elif r.upstream_done:
                route.overhead.observe(r.overhead_ns() / _NS)
        else:
            route.overhead.observe(r.overhead_ns() / _NS)
        if r.error_kind is not None:
            errors = self._errors.get((r.listener, r.provider, r.error_kind)) or self._error(r)
            errors.n += 1
        if r.routing is not None:
            self._acc.labelled(self.families.routing_decisions, r.routing).n += 1
        if r.session_cache_error is not None:
            cache_errors = self.families.session_cache_errors
            self._acc.labelled(cache_errors, r.session_cache_error).n += 1
        if r.router is not None:
            self.routing.record(r.router)
        if r.pii_found is not None:
            pii = self.families.pii_entities
            for labels, found in r.pii_found.items():
                self._acc.labelled(pii, *labels).n += found
        if r.guards is not None:
            for g in r.guards:
                self._acc.labelled(
                    self.families.guard_verdicts, g.filter, g.verdict, g.source
                ).n += 1
        if self._timer is None and self.multiprocess:
            self._schedule_flush()

    # -- agentic signals (listeners' signals worker) ---------------------------------------

    def signals_observed(self, record: RequestRecord) -> None:
        """Count an analysed request: its quality bucket, and its instances per category.
        Labels: listener, the canonical model that served, the route (how the model was chosen)
        on model listeners, the agents on agent listeners (config names, a bounded set)."""
        note = record.signals
        if note is None:
            return
        r = record
        by_agent = r.listener_type == "agent"
        route = r.route or ""
        where = (r.listener, r.model or "", "" if by_agent else route, route if by_agent else "")
        acc, f = self._acc, self.families
        acc.labelled(f.signals_conversations, note.quality, *where).n += 1
        for layer, category, count, _ in note.categories:
            acc.labelled(f.signals, layer, category, *where).n += count
        if self._timer is None and self.multiprocess:
            self._schedule_flush()

    def signals_skipped(self, reason: str) -> None:
        """A request was not analysed (`queue_full`, `error`)."""
        self._acc.labelled(self.families.signals_skipped, reason).n += 1
        if self._timer is None and self.multiprocess:
            self._schedule_flush()

    # -- fed by features that come later (retries, outlier ejection, rate limits) -------------

    def retry(self, provider: str, model: str) -> None:
        """One upstream call is being retried."""
        self._model(provider, model).retries.n += 1

    def ejection(self, provider: str, model: str) -> None:
        """An endpoint serving (provider, model) was ejected after failures."""
        self._model(provider, model).ejections.n += 1

    def ratelimited(self, provider: str, model: str) -> None:
        """A request for (provider, model) was refused by a rate limit."""
        self._model(provider, model).ratelimited.n += 1

    def failover(self, provider: str, model: str) -> None:
        """A request moved on to the fallback (provider, model)."""
        self.families.failovers.labels(provider, model).inc()

    def breaker_rejected(self, provider: str, model: str) -> None:
        self.families.breaker_rejections.labels(provider, model).inc()

    def first_token_timeout(self, provider: str, model: str) -> None:
        self.families.first_token_timeouts.labels(provider, model).inc()

    def health_skipped(self, provider: str, model: str) -> None:
        self.families.health_skips.labels(provider, model).inc()

    def circuit(self, provider: str, state: str) -> None:
        """A provider's circuit entered `state` (closed, open, half_open)."""
        self.families.circuit_changes.labels(provider, state).inc()
        level = ("closed", "open", "half_open").index(state)
        self.families.circuit_state.labels(provider).set(level)

    def reset(self, provider: str, model: str) -> None:
        self.families.resets.labels(provider, model).inc()

    def ratelimit_backend_error(self, backend: str, allowed: bool) -> None:
        self.families.ratelimit_backend_errors.labels(backend, "allow" if allowed else "deny").inc()

    def prompt_target(self, target: str, outcome: str) -> None:
        """A prompt-listener request ended in `outcome` for `target` (`-` when none)."""
        self._acc.labelled(self.families.prompt_target_calls, target, outcome).n += 1

    @property
    def accumulators(self) -> Accumulators:
        """Where other families (gateway keys) count between flushes, like these."""
        return self._acc

    # -- flushing and exposition --------------------------------------------------------------

    def flush(self) -> None:
        """Push everything recorded so far into prometheus-client (the shared files, with
        workers). On the event loop: before a scrape, on the timer, at shutdown."""
        self._acc.flush()

    def close(self) -> None:
        """Worker shutdown (`Telemetry.close`): nothing recorded is left behind."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()

    def render(
        self, accept: str | None = None, accept_encoding: str | None = None
    ) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        """The exposition of what was flushed: Prometheus text, or OpenMetrics when `accept`
        asks for it; gzip when `accept_encoding` allows it. Blocking: run it off the loop."""
        encoder, content_type = choose_encoder(accept or "")
        body = encoder(self.registry)
        headers = [(b"content-type", content_type.encode())]
        if accept_encoding and "gzip" in accept_encoding:
            body = gzip.compress(body, compresslevel=5)
            headers.append((b"content-encoding", b"gzip"))
        return body, headers

    def _schedule_flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # recorded outside a loop (tests): flushed by hand
            return
        self._timer = loop.call_later(self._flush_seconds, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()

    # -- accumulators -------------------------------------------------------------------------

    def _route(self, r: RequestRecord) -> _Route:
        route = _Route(self.families, self._acc, r.listener, r.handler)
        self._routes[(r.listener, r.handler)] = route
        return route

    def _model(self, provider: str | None, model: str | None) -> _Model:
        key = (provider, model)
        found = self._models.get(key)
        if found is not None:
            return found
        labels = (provider or UNKNOWN, model or UNKNOWN)
        if len(self._models) >= MAX_MODEL_SERIES:
            key = labels = (labels[0], OTHER)
            found = self._models.get(key)
            if found is not None:
                return found
        created = self._models[key] = _Model(self.families, self._acc, *labels)
        return created

    def _upstream(self, r: RequestRecord, model: _Model, end: int) -> None:
        status = r.upstream_status
        outcome = model.outcomes.get((status, r.error_kind)) or model.outcome(status, r.error_kind)
        outcome.n += 1
        done = r.upstream_done or end
        model.upstream_duration.observe((done - r.upstream_sent) / _NS)
        if r.upstream_first_chunk:
            model.ttft.observe((r.upstream_first_chunk - r.upstream_sent) / _NS)
        if not 200 <= status < 300:
            return
        prompt, completion, cached = r.prompt_tokens, r.completion_tokens, r.cached_tokens
        if prompt is None and completion is None:
            model.usage_missing.n += 1
            return
        if prompt:
            model.prompt.n += prompt
        if completion:
            model.completion.n += completion
            if r.upstream_done:
                _observe_tpot(model.tpot, r, completion)
        if cached:
            model.cache_read.n += cached
        if self._prompt_caching:
            self.routing.prompt_cached(*model._labels, bool(cached))

    def _error(self, r: RequestRecord) -> Count:
        labels = (r.listener, r.provider or "none", r.error_kind or OTHER)
        made = self._errors[(r.listener, r.provider, r.error_kind)] = self._acc.count(
            self.families.errors.labels(*labels)
        )
        return made


def _observe_tpot(tpot: Hist, r: RequestRecord, completion: int) -> None:
    """Streams: time after the first chunk over the tokens after the first; whole responses:
    the upstream's duration over all output tokens (as the original's wasm filter does)."""
    if r.upstream_first_chunk:
        if completion > 1:
            tpot.observe((r.upstream_done - r.upstream_first_chunk) / (completion - 1) / _NS)
    else:
        tpot.observe((r.upstream_done - r.upstream_sent) / completion / _NS)


def build_metrics(
    models: Iterable[tuple[str, str]] = (), *, prompt_caching: bool = False
) -> PrometheusMetrics:
    """The metrics of this worker: in multiprocess mode when the process runs in it (workers),
    in memory otherwise. `models`: configured (provider, bare model id) pairs, wildcards left out;
    `prompt_caching`: `prompt_caching.enabled` (prompt-cache hits and misses are counted).
    """
    return PrometheusMetrics(
        models=models, multiprocess_dir=active_dir(), prompt_caching=prompt_caching
    )
