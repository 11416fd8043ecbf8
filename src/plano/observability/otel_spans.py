"""Request spans, encoded as OTLP as they finish, at a few microseconds per request.

`OtelTracing` is the `TraceSink` of `Telemetry`. `begin` reads the client's W3C `traceparent` /
`tracestate`, makes the sampling decision of the SDK's `ParentBased(TraceIdRatioBased(p))`
sampler, allocates the request span's id and writes the child context that upstream calls carry
into the record. `finish` encodes the span (`OtlpEncoder.span_fields`) and queues the bytes; a
`SpanBatcher` thread sends them. No SDK `Span` or `ReadableSpan` object is made per request: the
SDK's `Tracer` path costs ~30 µs per request, its batch processor keeps thousands of span objects
alive for the garbage collector to scan, and its encoder costs ~50 µs per span.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, Protocol

from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode, TraceState

from plano.observability import names as n
from plano.observability.otlp_encoding import OtlpEncoder
from plano.observability.record import RequestRecord

# The W3C grammar exactly as the SDK's TraceContextTextMapPropagator checks it (same regex, same
# rejections); `parse_traceparent` is tested against the propagator. Calling the propagator
# itself costs ~4 µs per request (it builds a Context and a NonRecordingSpan) against ~0.8 here.
_TRACEPARENT: Final = re.compile(
    r"^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:(-.*)|[ \t]*)$"
)
_TRACEPARENT_MAX: Final = 512
_TRACESTATE_MAX: Final = 512
_ZERO_TRACE: Final = "0" * 32
_ZERO_SPAN: Final = "0" * 16
_LIMIT: Final = TraceIdRatioBased.TRACE_ID_LIMIT
_ERROR: Final = StatusCode.ERROR.value
_KINDS: Final = {"client": SpanKind.CLIENT, "internal": SpanKind.INTERNAL}
_SERVICE_BY_LISTENER: Final = {
    "model": n.SERVICE_LLM,
    "agent": n.SERVICE_ORCHESTRATOR,
    "prompt": n.SERVICE_INBOUND,
}
# Requests not worth a span: health probes and CORS preflights.
_UNTRACED_HANDLERS: Final = frozenset({"healthz", "cors_preflight"})
# Never copied into span attributes, whatever `header_prefixes` says (DESIGN.md §6).
_SECRET_HEADERS: Final = frozenset(
    {
        b"authorization",
        b"proxy-authorization",
        b"x-api-key",
        b"api-key",
        b"x-goog-api-key",
        b"cookie",
        b"set-cookie",
    }
)


def parse_traceparent(header: str) -> tuple[int, int, int] | None:
    """(trace id, parent span id, trace flags) of a valid `traceparent`, else None."""
    if len(header) > _TRACEPARENT_MAX:
        return None
    m = _TRACEPARENT.match(header)
    if m is None:
        return None
    version, trace_id, span_id, flags, rest = m.groups()
    if trace_id == _ZERO_TRACE or span_id == _ZERO_SPAN or version == "ff":
        return None
    if version == "00" and rest:
        return None
    return int(trace_id, 16), int(span_id, 16), int(flags, 16)


class _Open:
    """The request span between `begin` and `finish` (stored in `record.span`)."""

    __slots__ = ("parent_id", "span_id", "trace_id", "trace_state")

    def __init__(self, trace_id: int, span_id: int, parent_id: int, trace_state: str) -> None:
        self.trace_id = trace_id
        self.span_id = span_id
        self.parent_id = parent_id
        self.trace_state = trace_state


class ChildSpan:
    """A sub-call's span (router, filter, agent...), child of the request span.

    Put `traceparent` on the sub-call's request, then call `end()` once. For a request that is
    not sampled, `traceparent` is still the request's (so the sub-call joins the same trace) and
    `end()` records nothing.
    """

    __slots__ = (
        "_open",
        "_owner",
        "_record",
        "_span_id",
        "_start",
        "attributes",
        "kind",
        "name",
        "service",
        "traceparent",
    )

    def __init__(
        self,
        owner: OtelTracing | None,
        record: RequestRecord,
        name: str,
        service: str,
        kind: SpanKind,
        span_id: int,
        start: int,
        traceparent: str | None,
    ) -> None:
        self._owner = owner
        self._record = record
        self._open = isinstance(record.span, _Open) and owner is not None
        self._span_id = span_id
        self._start = start
        self.name = name
        self.service = service
        self.kind = kind
        self.traceparent = traceparent
        self.attributes: dict[str, Any] = {}

    def end(
        self,
        *,
        end_ns: int | None = None,
        error: str | None = None,
        attributes: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the span; `end_ns` is a `time.perf_counter_ns()` value (default: now)."""
        if not self._open or self._owner is None:
            return
        self._open = False
        if attributes:
            self.attributes.update(attributes)
        end = end_ns if end_ns is not None else time.perf_counter_ns()
        self._owner.emit_child(self, self._record, self._span_id, self._start, end, error)


class SpanQueue(Protocol):
    """Where encoded spans go (`SpanBatcher`), each with its service name."""

    def add(self, service: str | None, span: bytes) -> None: ...


class OtelTracing:
    """The `TraceSink`: one SERVER span per request, child spans for sub-calls."""

    def __init__(
        self,
        queue: SpanQueue,
        *,
        sampling_percent: float = 100,
        header_prefixes: Sequence[str] = (),
        static: Mapping[str, str] | None = None,
    ) -> None:
        self._queue = queue
        self._encoder = OtlpEncoder()  # event loop thread only
        self._bound = TraceIdRatioBased(min(max(sampling_percent, 0), 100) / 100).bound
        self._ids = RandomIdGenerator()
        self._prefixes = tuple((p.lower().encode("latin-1"), len(p)) for p in header_prefixes if p)
        self._static: dict[str, Any] = dict(static or {})

    # -- the request span -----------------------------------------------------------------------

    def begin(self, record: RequestRecord, traceparent: str | None, tracestate: str | None) -> None:
        parent = parse_traceparent(traceparent) if traceparent else None
        span_id = self._ids.generate_span_id()
        state = ""
        if parent is None:
            trace_id = self._ids.generate_trace_id()
            parent_id = 0
            sampled = (trace_id & _LIMIT) < self._bound
        else:
            trace_id, parent_id, flags = parent
            sampled = bool(flags & 1)  # ParentBased: follow the client's decision
            if tracestate and len(tracestate) <= _TRACESTATE_MAX:
                state = TraceState.from_header([tracestate]).to_header()
        record.tracestate = state or None
        record.traceparent = f"00-{trace_id:032x}-{span_id:016x}-{'01' if sampled else '00'}"
        if sampled:
            record.span = _Open(trace_id, span_id, parent_id, state)

    def finish(self, record: RequestRecord) -> None:
        span = record.span
        if not isinstance(span, _Open):
            return
        record.span = None
        if record.handler in _UNTRACED_HANDLERS:
            return
        start = record.wall_start
        end = start + ((record.end or time.perf_counter_ns()) - record.start)
        events: tuple[tuple[str, int, dict[str, Any], int], ...] = ()
        first = record.downstream_first_chunk or record.upstream_first_chunk
        attrs = self._attributes(record)
        if record.stream and first:
            ttft_ms = (first - record.start) // 1_000_000
            attrs[n.ATTR_LLM_TTFT] = ttft_ms
            events = (
                (n.EVENT_TTFT, start + (first - record.start), {n.ATTR_LLM_TTFT: ttft_ms}, 0),
            )
        failed = record.status >= 500 or (record.error_kind not in (None, "client"))
        data = self._encoder.span_fields(
            span.trace_id,
            span.span_id,
            span.parent_id,
            True,  # the parent, when there is one, is the client's
            span.trace_state,
            span_name(record),
            SpanKind.SERVER,
            start,
            end,
            attrs,
            events,
            _ERROR if failed else 0,
            (record.error_kind or "") if failed else "",
        )
        self._queue.add(attrs[n.ATTR_SERVICE_OVERRIDE], data)

    def _attributes(self, r: RequestRecord) -> dict[str, Any]:
        a = dict(self._static)
        if self._prefixes and r.request_headers:
            self._header_attributes(r.request_headers, a)
        a[n.ATTR_SERVICE_OVERRIDE] = _SERVICE_BY_LISTENER.get(r.listener_type, n.SERVICE_NAME)
        a[n.ATTR_HTTP_METHOD] = r.method
        a[n.ATTR_HTTP_PATH] = r.path
        a[n.ATTR_HTTP_STATUS] = r.status
        a[n.ATTR_LISTENER] = r.listener
        a[n.ATTR_LLM_DURATION_MS] = ((r.end or time.perf_counter_ns()) - r.start) // 1_000_000
        if r.request_id:
            a[n.ATTR_REQUEST_ID] = r.request_id
        if r.requested_model:
            a[n.ATTR_MODEL_REQUESTED] = r.requested_model
        if r.model:
            a[n.ATTR_LLM_MODEL] = r.model
            a[n.ATTR_LLM_STREAM] = r.stream
        if r.provider:
            a[n.ATTR_LLM_PROVIDER] = r.provider
        if r.route:
            a[n.ATTR_ROUTE_NAME] = r.route
        if r.routing:
            a[n.ATTR_ROUTING_DECISION] = r.routing
        if r.session_id:
            a[n.ATTR_SESSION_ID] = r.session_id
        if r.router is not None and r.router.span:
            a.update(r.router.span)
        if r.upstream_status:
            a[n.ATTR_UPSTREAM_STATUS] = r.upstream_status
        if r.prompt_tokens is not None:
            a[n.ATTR_USAGE_PROMPT] = r.prompt_tokens
        if r.completion_tokens is not None:
            a[n.ATTR_USAGE_COMPLETION] = r.completion_tokens
        if r.prompt_tokens is not None or r.completion_tokens is not None:
            a[n.ATTR_USAGE_TOTAL] = (r.prompt_tokens or 0) + (r.completion_tokens or 0)
        if r.cached_tokens is not None:
            a[n.ATTR_USAGE_CACHED] = r.cached_tokens
        if r.bytes_out:
            a[n.ATTR_LLM_RESPONSE_BYTES] = r.bytes_out
        if r.upstream_sent:
            a[n.ATTR_OVERHEAD_MS] = round(r.overhead_ns() / 1e6, 3)
        if r.error_kind:
            a[n.ATTR_ERROR_KIND] = r.error_kind
        return a

    def _header_attributes(
        self, headers: Sequence[tuple[bytes, bytes]], out: dict[str, Any]
    ) -> None:
        """`x-acme-tenant-id: t1` with prefix `x-acme-` -> `tenant.id = t1` (reference §2.3)."""
        for name, value in headers:
            for prefix, size in self._prefixes:
                if name.startswith(prefix) and len(name) > size:
                    if name.lower() in _SECRET_HEADERS:
                        break
                    key = name[size:].decode("latin-1").lower().replace("-", ".")
                    out[key] = value.decode("latin-1")
                    break

    # -- child spans ----------------------------------------------------------------------------

    def start_child(
        self,
        record: RequestRecord,
        name: str,
        service: str,
        *,
        kind: Literal["client", "internal"] = "client",
        start_ns: int | None = None,
    ) -> ChildSpan:
        """A span for a sub-call made while serving `record`, started at `start_ns`
        (`time.perf_counter_ns()`, default now)."""
        start = start_ns if start_ns is not None else time.perf_counter_ns()
        open_span = record.span
        if not isinstance(open_span, _Open):
            return ChildSpan(
                None, record, name, service, _KINDS[kind], 0, start, record.traceparent
            )
        span_id = self._ids.generate_span_id()
        traceparent = f"00-{open_span.trace_id:032x}-{span_id:016x}-01"
        return ChildSpan(self, record, name, service, _KINDS[kind], span_id, start, traceparent)

    def child_span(
        self,
        record: RequestRecord,
        name: str,
        service: str,
        attributes: Mapping[str, Any] | None,
        start_ns: int,
        end_ns: int,
        *,
        error: str | None = None,
        kind: Literal["client", "internal"] = "internal",
    ) -> None:
        """Record a finished sub-step (timestamps from `time.perf_counter_ns()`)."""
        self.start_child(record, name, service, kind=kind, start_ns=start_ns).end(
            end_ns=end_ns, error=error, attributes=attributes
        )

    def emit_child(
        self,
        child: ChildSpan,
        record: RequestRecord,
        span_id: int,
        start: int,
        end: int,
        error: str | None,
    ) -> None:
        open_span = record.span
        if not isinstance(open_span, _Open):
            return  # the request span already finished: too late to attach
        attrs = dict(self._static)
        attrs.update(child.attributes)
        attrs[n.ATTR_SERVICE_OVERRIDE] = child.service
        if record.request_id:
            attrs[n.ATTR_REQUEST_ID] = record.request_id
        if error:
            attrs[n.ATTR_ERROR_KIND] = error
        wall = record.wall_start - record.start
        data = self._encoder.span_fields(
            open_span.trace_id,
            span_id,
            open_span.span_id,
            False,
            open_span.trace_state,
            child.name,
            child.kind,
            wall + start,
            wall + end,
            attrs,
            (),
            _ERROR if error else 0,
            error or "",
        )
        self._queue.add(child.service, data)


def span_name(r: RequestRecord) -> str:
    """`POST /v1/chat/completions gpt-4o`, or `... <requested> -> <resolved>` when the model
    served is not the one the client named (alias, routing), like the original."""
    requested = r.requested_model
    if requested is None:
        return f"{r.method} {r.path} {r.model}" if r.model else f"{r.method} {r.path}"
    if r.model and requested not in (r.model, r.upstream_model):
        return f"{r.method} {r.path} {requested} -> {r.model}"
    return f"{r.method} {r.path} {requested}"
