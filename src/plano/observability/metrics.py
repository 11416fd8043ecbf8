"""Prometheus metrics: a `MetricsSink` that turns finished `RequestRecord`s into samples.

The metric set follows the original (reference §9.2) where it has one, plus the gateway's own
overhead. Finishing a request only adds to plain Python numbers kept per label combination (a
histogram observation is one bisect and two additions); they are pushed into prometheus-client's
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
from bisect import bisect_left
from collections.abc import Iterable
from typing import Final, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector

from plano import __version__
from plano.observability import names as n
from plano.observability.multiproc import active_dir
from plano.observability.record import RequestRecord
from plano.observability.routing_metrics import RoutingFamilies

# Buckets (seconds). HTTP and LLM buckets are the original's.
HTTP_BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
LLM_BUCKETS: Final = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
TPOT_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0)
OVERHEAD_BUCKETS: Final = (
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
)  # fmt: skip

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


class _Incrementable(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class _Count:
    """A counter (or a gauge's change) not yet pushed to its prometheus-client child."""

    __slots__ = ("child", "n")

    def __init__(self, child: _Incrementable) -> None:
        self.child = child
        self.n = 0

    def flush(self) -> None:
        if self.n:
            pending, self.n = self.n, 0
            self.child.inc(pending)


class _Hist:
    """Histogram observations not yet pushed: per-bucket counts (the last is +Inf) and a sum."""

    __slots__ = ("_bounds", "_child", "counts", "total")

    def __init__(self, child: Histogram, bounds: tuple[float, ...]) -> None:
        self._child = child
        self._bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.total = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self._bounds, value)] += 1  # le: value <= bound
        self.total += value

    def flush(self) -> None:
        counts = self.counts
        if not any(counts):
            return
        # prometheus-client (pinned) keeps one value per bucket, non-cumulative, and the sum;
        # adding to them is what `observe` does, once per observation.
        buckets = self._child._buckets
        for i, count in enumerate(counts):
            if count:
                buckets[i].inc(count)
                counts[i] = 0
        self._child._sum.inc(self.total)
        self.total = 0.0


class _Route:
    """Accumulators of the per-(listener, handler) families."""

    __slots__ = ("_labels", "_m", "duration", "in_flight", "overhead", "requests")

    def __init__(self, m: PrometheusMetrics, listener: str, handler: str) -> None:
        self._m = m
        self._labels = (listener, handler)
        self.duration = m.hist(m.http_duration.labels(listener, handler), HTTP_BUCKETS)
        self.in_flight = m.count(m.http_in_flight.labels(listener, handler))
        self.overhead = m.hist(m.overhead.labels(listener, handler), OVERHEAD_BUCKETS)
        self.requests: dict[tuple[str, int], _Count] = {}

    def request_count(self, method: str, status: int) -> _Count:
        label = method if method in _METHODS else OTHER
        key = (label, status)
        found = self.requests.get(key)
        if found is None:
            child = self._m.http_requests.labels(*self._labels, label, status_class(status))
            found = self.requests[key] = self._m.count(child)
        return found


class _Model:
    """Accumulators of the per-(provider, model) families."""

    __slots__ = (
        "_labels",
        "_m",
        "active_streams",
        "added_ttfc",
        "cache_read",
        "completion",
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

    def __init__(self, m: PrometheusMetrics, provider: str, model: str) -> None:
        labels = (provider, model)
        self._m = m
        self._labels = labels
        self.upstream_duration = m.hist(m.upstream_duration.labels(*labels), LLM_BUCKETS)
        self.ttft = m.hist(m.ttft.labels(*labels), LLM_BUCKETS)
        self.tpot = m.hist(m.tpot.labels(*labels), TPOT_BUCKETS)
        self.added_ttfc = m.hist(m.added_ttfc.labels(*labels), OVERHEAD_BUCKETS)
        self.prompt = m.count(m.tokens.labels(*labels, n.TOKENS_PROMPT))
        self.completion = m.count(m.tokens.labels(*labels, n.TOKENS_COMPLETION))
        self.cache_read = m.count(m.tokens.labels(*labels, n.TOKENS_CACHE_READ))
        self.usage_missing = m.count(m.usage_missing.labels(*labels))
        self.active_streams = m.count(m.active_streams.labels(*labels))
        self.retries = m.count(m.retries.labels(*labels))
        self.ejections = m.count(m.ejections.labels(*labels))
        self.ratelimited = m.count(m.ratelimited_requests.labels(*labels))
        self.outcomes: dict[tuple[int, str | None], _Count] = {}

    def outcome(self, status: int, error_kind: str | None) -> _Count:
        child = self._m.upstream_requests.labels(
            *self._labels, *upstream_classes(status, error_kind)
        )
        found = self.outcomes[(status, error_kind)] = self._m.count(child)
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
        self._build(reg)
        self.routing = RoutingFamilies(reg, self.count, self.hist)
        self._prompt_caching = prompt_caching  # count prompt-cache hits and misses
        self.build_info.labels(version).set(1)
        self._flush_seconds = flush_seconds
        self._timer: asyncio.TimerHandle | None = None
        self._pending: list[_Count | _Hist] = []
        self._routes: dict[tuple[str, str], _Route] = {}
        self._models: dict[tuple[str | None, str | None], _Model] = {}
        self._errors: dict[tuple[str, str | None, str | None], _Count] = {}
        self._in_flight: dict[int, _Count] = {}
        self._streams: dict[int, _Count] = {}
        self._by_label: dict[tuple[int, str], _Count] = {}
        for provider, model in models:
            self._model(provider, model)

    def _build(self, reg: CollectorRegistry | None) -> None:
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
        self.build_info = Gauge(
            n.METRIC_BUILD_INFO,
            "Always 1; the label carries the gateway version.",
            (n.LABEL_VERSION,),
            registry=reg,
            multiprocess_mode="max",
        )

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
            self._labelled(self.routing_decisions, r.routing).n += 1
        if r.session_cache_error is not None:
            self._labelled(self.session_cache_errors, r.session_cache_error).n += 1
        if r.router is not None:
            self.routing.record(r.router)
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
        self.failovers.labels(provider, model).inc()

    def breaker_rejected(self, provider: str, model: str) -> None:
        self.breaker_rejections.labels(provider, model).inc()

    def ratelimit_backend_error(self, backend: str, allowed: bool) -> None:
        self.ratelimit_backend_errors.labels(backend, "allow" if allowed else "deny").inc()

    # -- flushing and exposition --------------------------------------------------------------

    def flush(self) -> None:
        """Push everything recorded so far into prometheus-client (the shared files, with
        workers). On the event loop: before a scrape, on the timer, at shutdown."""
        for pending in self._pending:
            pending.flush()

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

    def count(self, child: _Incrementable) -> _Count:
        made = _Count(child)
        self._pending.append(made)
        return made

    def hist(self, child: Histogram, bounds: tuple[float, ...]) -> _Hist:
        made = _Hist(child, bounds)
        self._pending.append(made)
        return made

    def _labelled(self, counter: Counter, value: str) -> _Count:
        """A one-label counter's accumulator (label values come from code, a bounded set)."""
        key = (id(counter), value)
        found = self._by_label.get(key)
        if found is None:
            found = self._by_label[key] = self.count(counter.labels(value))
        return found

    def _route(self, r: RequestRecord) -> _Route:
        route = self._routes[(r.listener, r.handler)] = _Route(self, r.listener, r.handler)
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
        created = self._models[key] = _Model(self, *labels)
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

    def _error(self, r: RequestRecord) -> _Count:
        child = self.errors.labels(r.listener, r.provider or "none", r.error_kind or OTHER)
        made = self._errors[(r.listener, r.provider, r.error_kind)] = self.count(child)
        return made


def _observe_tpot(tpot: _Hist, r: RequestRecord, completion: int) -> None:
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
