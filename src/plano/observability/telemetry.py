"""The seam between request handling and telemetry backends.

`Telemetry.begin` runs when a request arrives (tracing opens its span so the upstream call can
carry its `traceparent`; metrics count it in flight); `Telemetry.finish` runs once when the
response is complete and hands the finished record to every sink. Sinks are built once per worker
at config load; a disabled sink is simply absent, so it costs nothing.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, Protocol

from plano.observability.record import RequestRecord


class MetricsSink(Protocol):
    def request_started(self, record: RequestRecord) -> None: ...

    def stream_started(self, record: RequestRecord) -> None:
        """An event stream starts flowing to the client (active until `request_finished`)."""

    def request_finished(self, record: RequestRecord) -> None: ...


class TraceSink(Protocol):
    def begin(self, record: RequestRecord, traceparent: str | None, tracestate: str | None) -> None:
        """Open the request's span (child of the client's context when it sent one) and set
        `record.traceparent` / `record.tracestate` to what upstream calls must carry."""

    def finish(self, record: RequestRecord) -> None: ...


class RecordSink(Protocol):
    """Anything that only needs the finished record (the access log)."""

    def write(self, record: RequestRecord) -> None: ...


class Deferral(Protocol):
    """Work that must end before a record's spans and log lines are written (the listeners'
    agentic-signals worker): `take` keeps a record (True) and later calls `Telemetry.complete`
    with it; False leaves it to be completed at once. `flush` completes everything kept."""

    def take(self, record: RequestRecord) -> bool: ...

    def flush(self) -> None: ...


class SubSpan(Protocol):
    """A sub-call's span (`otel_spans.ChildSpan`): send `traceparent` (when not None) on the
    sub-call, then `end()` once."""

    @property
    def traceparent(self) -> str | None: ...

    def end(
        self,
        *,
        end_ns: int | None = None,
        error: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None: ...


class _NoSpan:
    """The span of a sub-call when tracing is off: records nothing, carries no context."""

    __slots__ = ()
    traceparent: Final = None

    def end(
        self,
        *,
        end_ns: int | None = None,
        error: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        return None


NO_SPAN: Final = _NoSpan()


class Telemetry:
    def __init__(
        self,
        metrics: MetricsSink | None = None,
        tracing: TraceSink | None = None,
        records: Sequence[RecordSink] = (),
    ) -> None:
        self.metrics = metrics
        self.tracing = tracing
        self._records = tuple(records)
        self._start_child = getattr(tracing, "start_child", None)
        self._deferral: Deferral | None = None
        self._signals_observed = getattr(metrics, "signals_observed", None)

    def attach(self, sink: RecordSink) -> None:
        """One more record sink, added after the others were built (the console's ring)."""
        self._records = (*self._records, sink)

    def defer_with(self, deferral: Deferral | None) -> None:
        """Records that carry a `conversation` go to `deferral` when they finish; their spans,
        log lines and signal counts are written when it calls `complete` (None: never)."""
        self._deferral = deferral

    @property
    def traced(self) -> bool:
        """Whether `child` records spans (callers may skip building attributes otherwise)."""
        return self._start_child is not None

    def child(
        self,
        record: RequestRecord,
        name: str,
        service: str,
        kind: Literal["client", "internal"] = "client",
    ) -> SubSpan:
        """A span for a sub-call made while serving `record` (a child of its request span), or
        the shared no-op `NO_SPAN` when tracing is off."""
        start = self._start_child
        if start is None:
            return NO_SPAN
        span: SubSpan = start(record, name, service, kind=kind)
        return span

    def begin(
        self, record: RequestRecord, traceparent: str | None = None, tracestate: str | None = None
    ) -> None:
        if self.tracing is not None:
            self.tracing.begin(record, traceparent, tracestate)
        if self.metrics is not None:
            self.metrics.request_started(record)

    def stream_started(self, record: RequestRecord) -> None:
        """Call once when a response starts relaying an event stream (after its headers)."""
        if self.metrics is not None:
            self.metrics.stream_started(record)

    def finish(self, record: RequestRecord) -> None:
        if not record.end:
            record.end = time.perf_counter_ns()
        if self.metrics is not None:
            self.metrics.request_finished(record)
        if record.conversation is not None:
            deferral = self._deferral
            if deferral is not None and deferral.take(record):
                return
            record.conversation = None
        self.complete(record)

    def complete(self, record: RequestRecord) -> None:
        """Write the finished record's span and log lines (after the deferred work, if any)."""
        if record.signals is not None and self._signals_observed is not None:
            self._signals_observed(record)
        if self.tracing is not None:
            self.tracing.finish(record)
        if record.handler != "healthz":  # probes would drown the access log
            for sink in self._records:
                sink.write(record)

    def close(self) -> None:
        """Flush and stop every sink that buffers (called at worker shutdown), after the
        deferred records were completed."""
        if self._deferral is not None:
            self._deferral.flush()
        for sink in (self.metrics, self.tracing, *self._records):
            close = getattr(sink, "close", None)
            if close is not None:
                close()
