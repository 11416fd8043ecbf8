"""Request spans as OTLP, at a few microseconds per request.

`OtelTracing` is the `TraceSink` of `Telemetry`. `begin` reads the client's W3C `traceparent` /
`tracestate`, makes the sampling decision of the SDK's `ParentBased(TraceIdRatioBased(p))`
sampler, and writes the span's context (which upstream calls carry) into the record; new traces
come from a pool made 64 at a time. `finish` leaves the span's values as a `PendingSpan` tuple
with a `SpanBatcher`, which encodes a whole batch at once with `render_span` and sends it from a
thread. What requests alike share (name, kind, status and most attributes: listener, model,
provider, route, statuses...) is encoded once per distinct combination and reused (`_Head`); per
span only ids, times and the few values that change (request id, durations, usage, bytes) are
encoded. No SDK `Span` or `ReadableSpan` object is made per request: the SDK's `Tracer` path
costs ~30 µs per request, its batch processor keeps thousands of span objects alive for the
garbage collector to scan, and its encoder costs ~50 µs per span.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, Protocol

from opentelemetry.sdk.trace.sampling import TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode, TraceState

from plano.observability import names as n
from plano.observability.genai import head_attributes
from plano.observability.otlp_encoding import (
    SPAN_ATTRIBUTE,
    OtlpEncoder,
    name_and_kind,
    status_field,
)
from plano.observability.record import RequestRecord
from plano.observability.span_context import (
    FLAGS_LOCAL,
    client_context,
    flagged_name,
    guard_attributes,
    traceparent_fields,
)
from plano.observability.span_render import (
    PER_REQUEST,
    PendingSpan,
    key_attributes,
    signals_fields,
    usage_attributes,
)

_TRACESTATE_MAX: Final = 512
_LIMIT: Final = TraceIdRatioBased.TRACE_ID_LIMIT
# The SDK's RandomIdGenerator uses the `random` module's generator too (reseeded in forked
# workers by the `random` module itself).
_getrandbits: Final = random.getrandbits
_ERROR: Final = StatusCode.ERROR.value
_ODD_HEX: Final = frozenset("13579bdf")  # trace-flags' last hex digit with "sampled" set
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


# Distinct (listener, model, status...) combinations whose encoded span parts are kept; the
# requested model comes from clients, so the cache is bounded (beyond it, spans are encoded in
# full, which is slower but correct).
_HEAD_CACHE_LIMIT: Final = 1024
_FRESH_BATCH: Final = 64  # new traces made at a time


# The request span between `begin` and `finish`, stored in `record.span` as a plain tuple (the
# cheapest object to make): trace id and span id as the 16 and 8 big-endian bytes OTLP carries,
# the client's trace state, and the encoded fields that depend on the client's context (trace
# state, parent span id, flags).
_Open = tuple[bytes, bytes, str, bytes]
_NO_PARENT: Final = FLAGS_LOCAL


class _Head:
    """What the spans of requests alike share, encoded once (`OtelTracing._head`): `fields`
    holds the span's name, kind, status and shared attributes."""

    __slots__ = ("fields", "keys", "per_request_static", "service")

    def __init__(
        self,
        service: str,
        fields: bytes,
        keys: frozenset[str],
        per_request_static: Mapping[str, Any],
    ) -> None:
        self.service = service
        self.fields = fields
        self.keys = keys  # every attribute key the gateway sets on such spans
        self.per_request_static = per_request_static  # static attributes encoded per request


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
        self._open = record.span.__class__ is tuple and owner is not None
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
    """Where spans go (`SpanBatcher`), each with its service name: child spans encoded, request
    spans as `PendingSpan` values for `render_span` to encode with their batch."""

    def add(self, service: str | None, span: bytes | PendingSpan) -> None: ...


class OtelTracing:
    """The `TraceSink`: one SERVER span per request, child spans for sub-calls."""

    def __init__(
        self,
        queue: SpanQueue,
        *,
        sampling_percent: float = 100,
        header_prefixes: Sequence[str] = (),
        static: Mapping[str, str] | None = None,
        genai_names: bool = False,
    ) -> None:
        self._queue = queue
        self._genai_names = genai_names  # `tracing.span_names: genai`
        self._encoder = OtlpEncoder()  # event loop thread only
        self._bound = TraceIdRatioBased(min(max(sampling_percent, 0), 100) / 100).bound
        self._always = self._bound > _LIMIT  # 100 %: every new trace is sampled
        self._fresh: list[tuple[str, _Open | None]] = []  # new traces, ready (`_new_traces`)
        self._prefixes = tuple((p.lower().encode("latin-1"), len(p)) for p in header_prefixes if p)
        self._static: dict[str, Any] = dict(static or {})
        self._heads: dict[tuple[Any, ...], _Head] = {}

    # -- the request span -----------------------------------------------------------------------

    def begin(self, record: RequestRecord, traceparent: str | None, tracestate: str | None) -> None:
        parent = traceparent_fields(traceparent) if traceparent else None
        if parent is None:  # a new trace, from the pool of ready ones
            fresh = self._fresh
            if not fresh:
                fresh = self._fresh = self._new_traces()
            record.traceparent, record.span = fresh.pop()
            record.tracestate = None
            return
        span_id = (_getrandbits(64) or 1).to_bytes(8)  # never the invalid 0, like the SDK
        trace_hex, parent_hex, flags = parent
        state = ""
        if tracestate and len(tracestate) <= _TRACESTATE_MAX:
            state = TraceState.from_header([tracestate]).to_header()
        record.tracestate = state or None
        if flags[1] in _ODD_HEX:  # ParentBased: follow the client's sampling decision
            record.traceparent = f"00-{trace_hex}-{span_id.hex()}-01"
            context = client_context(bytes.fromhex(parent_hex), state)
            record.span = (bytes.fromhex(trace_hex), span_id, state, context)
        else:
            record.traceparent = f"00-{trace_hex}-{span_id.hex()}-00"

    def _new_traces(self) -> list[tuple[str, _Open | None]]:
        """`_FRESH_BATCH` new traces, each as the `traceparent` its upstream calls carry and its
        open span (None when not sampled). Made in one go, which costs a third of making each
        on its request (the loop stays in the processor's caches); ids are drawn when needed,
        after the worker has forked, like the SDK's `RandomIdGenerator`."""
        always, bound = self._always, self._bound
        out: list[tuple[str, _Open | None]] = []
        for _ in range(_FRESH_BATCH):
            span_id = (_getrandbits(64) or 1).to_bytes(8)  # never the invalid 0
            trace = _getrandbits(128) or 1
            trace_id = trace.to_bytes(16)
            if always or (trace & _LIMIT) < bound:
                traceparent = f"00-{trace_id.hex()}-{span_id.hex()}-01"
                out.append((traceparent, (trace_id, span_id, "", _NO_PARENT)))
            else:
                out.append((f"00-{trace_id.hex()}-{span_id.hex()}-00", None))
        return out

    def finish(self, record: RequestRecord) -> None:
        span = record.span
        if span.__class__ is not tuple:
            return
        trace_id, span_id, _, context = span
        record.span = None
        r = record
        if r.handler in _UNTRACED_HANDLERS:
            return
        key: tuple[Any, ...] = (
            r.listener_type,
            r.method,
            r.path,
            r.listener,
            r.requested_model,
            r.model,
            r.upstream_model,
            r.stream,
            r.provider,
            r.route,
            r.routing,
            r.status,
            r.upstream_status,
            r.error_kind,
            r.continued and r.attempts,
        )
        note = r.signals
        if note is not None:  # a flagged request's span name ends with the flag
            key = (*key, note.flagged)
        head = self._heads.get(key)
        if head is None:
            head = self._head(r, key)
        first = r.downstream_first_chunk or r.upstream_first_chunk
        extra = (
            self._extra_attributes(r, head)
            if self._prefixes or (r.router is not None and r.router.span) or r.pii_found or r.guards
            else None
        )
        if r.prompt_tokens is not None or r.completion_tokens is not None:
            usage = usage_attributes(
                r.prompt_tokens, r.completion_tokens, r.cache_write_tokens, r.cost, r.cached_tokens
            )
            extra = usage if extra is None else extra + usage
        if r.gen_ai:
            taken = head.keys
            genai = self._encoder.attributes(
                SPAN_ATTRIBUTE, {k: v for k, v in r.gen_ai.items() if k not in taken}
            )
            extra = genai if extra is None else extra + genai
        if r.key_name is not None:
            keyed = key_attributes(r.key_name, r.team, r.key_budget_alert)
            extra = keyed if extra is None else extra + keyed
        if note is not None:
            at = r.wall_start + ((r.end or time.perf_counter_ns()) - r.start)
            extra = (extra or b"") + signals_fields(self._encoder, note, at)
        # Only values here: the tuple is encoded with its batch (`render_span`), and a tuple
        # of plain values drops out of the garbage collector's sight while it waits.
        self._queue.add(
            head.service,
            (
                head.fields,
                trace_id,
                span_id,
                context,
                r.wall_start,
                (r.end or time.perf_counter_ns()) - r.start,
                r.overhead_ns() if r.upstream_sent else None,
                r.request_id,
                r.session_id,
                r.prompt_tokens,
                r.completion_tokens,
                r.cached_tokens,
                r.bytes_out,
                first - r.start if r.stream and first else 0,
                extra,
            ),
        )

    def _head(self, r: RequestRecord, key: tuple[Any, ...]) -> _Head:
        """Encode (and cache, up to `_HEAD_CACHE_LIMIT` distinct ones) what the spans of
        requests alike in `key` share: name, kind, status and every attribute that depends
        only on `key`, plus the static attributes when no header attributes can override them."""
        error_kind = r.error_kind
        failed = r.status >= 500 or (error_kind is not None and error_kind != "client")
        a: dict[str, Any] = {}
        service = _SERVICE_BY_LISTENER.get(r.listener_type, n.SERVICE_NAME)
        a[n.ATTR_SERVICE_OVERRIDE] = service
        a[n.ATTR_HTTP_METHOD] = r.method
        a[n.ATTR_HTTP_PATH] = r.path
        a[n.ATTR_HTTP_STATUS] = r.status
        a[n.ATTR_LISTENER] = r.listener
        if r.requested_model:
            a[n.ATTR_MODEL_REQUESTED] = r.requested_model
        if r.model:
            a[n.ATTR_LLM_MODEL] = r.model
            a[n.ATTR_LLM_STREAM] = r.stream
        if r.provider:
            a[n.ATTR_LLM_PROVIDER] = r.provider
        head_attributes(r, a)
        if r.route:
            a[n.ATTR_ROUTE_NAME] = r.route
        if r.routing:
            a[n.ATTR_ROUTING_DECISION] = r.routing
        if r.upstream_status:
            a[n.ATTR_UPSTREAM_STATUS] = r.upstream_status
        if r.error_kind:
            a[n.ATTR_ERROR_KIND] = r.error_kind
        if r.continued:  # a broken stream went on on a fallback: both attempts counted
            a[n.ATTR_STREAM_CONTINUED] = True
            a[n.ATTR_UPSTREAM_ATTEMPTS] = r.attempts
        static = {k: v for k, v in self._static.items() if k not in a and k not in PER_REQUEST}
        per_request_static = bool(self._prefixes)
        attributes = dict(a) if per_request_static else {**static, **a}
        encoder = self._encoder
        head = _Head(
            service,
            name_and_kind(flagged_name(r, self._genai_names), SpanKind.SERVER)
            + status_field(_ERROR if failed else 0, (error_kind or "") if failed else "")
            + encoder.attributes(SPAN_ATTRIBUTE, attributes),
            # Keys encoded here or per request by `finish`: extra attributes never repeat them.
            frozenset(a) | PER_REQUEST | (frozenset() if per_request_static else frozenset(static)),
            static if per_request_static else {},
        )
        if len(self._heads) < _HEAD_CACHE_LIMIT:
            self._heads[key] = head
        return head

    def _extra_attributes(self, r: RequestRecord, head: _Head) -> bytes:
        """Per-request attributes beyond the usual ones: static ones that header attributes may
        override, header attributes (`span_attributes.header_prefixes`) and the routing step's
        (budget) attributes. Precedence: the gateway's own keys, then static and header ones
        (a header replaces a static one), then routing's; no key appears twice."""
        extra: dict[str, Any] = dict(head.per_request_static)
        if self._prefixes and r.request_headers:
            self._header_attributes(r.request_headers, extra)
        if r.router is not None and r.router.span:
            static = self._static
            for key, value in r.router.span.items():
                if key not in static and key not in extra:  # static and header ones are kept
                    extra[key] = value
        if r.pii_found:
            for (_, entity, _), found in r.pii_found.items():
                key = n.ATTR_PII_PREFIX + entity
                extra[key] = extra.get(key, 0) + found
        if r.guards:
            guard_attributes(r.guards[-1], extra)
        taken = head.keys
        return self._encoder.attributes(
            SPAN_ATTRIBUTE, {k: v for k, v in extra.items() if k not in taken}
        )

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
        if open_span.__class__ is not tuple:
            return ChildSpan(
                None, record, name, service, _KINDS[kind], 0, start, record.traceparent
            )
        trace_id: bytes = open_span[0]
        span_id = _getrandbits(64) or 1
        traceparent = f"00-{trace_id.hex()}-{span_id:016x}-01"
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
        if open_span.__class__ is not tuple:
            return  # the request span already finished: too late to attach
        trace_id, parent_id, trace_state, _ = open_span
        attrs = dict(self._static)
        attrs.update(child.attributes)
        attrs[n.ATTR_SERVICE_OVERRIDE] = child.service
        if record.request_id:
            attrs[n.ATTR_REQUEST_ID] = record.request_id
        if error:
            attrs[n.ATTR_ERROR_KIND] = error
        wall = record.wall_start - record.start
        data = self._encoder.span_fields(
            int.from_bytes(trace_id),
            span_id,
            int.from_bytes(parent_id),
            False,
            trace_state,
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
