"""Tracing at unit level: records in, SDK spans out (the SDK's in-memory exporter)."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry import trace as trace_api
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from plano.observability import names as n
from plano.observability import otel_spans
from plano.observability.otel_spans import OtelTracing
from plano.observability.otlp_encoding import OtlpEncoder
from plano.observability.record import RequestRecord
from plano.observability.span_context import parse_traceparent
from plano.observability.span_render import PER_REQUEST, PendingSpan, render_span
from plano.tracecollector.store import spans_from_request

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
CLIENT_TP = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
MS = 1_000_000
REMOTE_PARENT = 0x300  # OTLP span flags: "has is_remote" | "is_remote"

Span = dict[str, Any]


def decode(request_bytes: bytes) -> list[Span]:
    """Span dicts (as the receiver stores them) plus the OTLP `flags` of each span."""
    request = ExportTraceServiceRequest()
    request.ParseFromString(request_bytes)
    flags = [s.flags for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    spans = spans_from_request(request)
    for span, f in zip(spans, flags, strict=True):
        span["flags"] = f
    return spans


class Captured:
    """A `SpanQueue` keeping what tracing queued, in order."""

    def __init__(self) -> None:
        self.items: list[tuple[str | None, bytes]] = []

    def add(self, service: str | None, span: bytes | PendingSpan) -> None:
        self.items.append((service, render_span(span)))

    def spans(self) -> list[Span]:
        resource = Resource({"service.name": "plano"})
        out = []
        for item in self.items:
            (span,) = decode(OtlpEncoder().encode_batch(resource, None, [item]))
            assert span["service"] == item[0]
            out.append(span)
        return out


@pytest.fixture
def exporter() -> Captured:
    return Captured()


def sink(exporter: Captured, **kw: Any) -> OtelTracing:
    return OtelTracing(exporter, **kw)


def record(**fields: Any) -> RequestRecord:
    """A finished model-listener request (timestamps relative to its start)."""
    r = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    r.handler = "llm_chat"
    r.request_id = "req-1"
    r.requested_model = "gpt-4o"
    r.model = "openai/gpt-4o"
    r.upstream_model = "gpt-4o"
    r.provider = "openai"
    r.route = "exact"
    r.status = 200
    r.upstream_status = 200
    r.upstream_sent = r.start + 1 * MS
    r.upstream_done = r.start + 40 * MS
    r.end = r.start + 42 * MS
    r.prompt_tokens, r.completion_tokens = 12, 30
    r.bytes_out = 630
    for key, value in fields.items():
        setattr(r, key, value)
    return r


def run(
    tracing: OtelTracing, r: RequestRecord, tp: str | None = CLIENT_TP, ts: str | None = None
) -> None:
    tracing.begin(r, tp, ts)
    tracing.finish(r)


def only(exporter: Captured) -> Span:
    spans = exporter.spans()
    assert len(spans) == 1, spans
    return spans[0]


# -- traceparent parsing agrees with the SDK's propagator ------------------------------------------

TRACEPARENTS = [
    CLIENT_TP,
    f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00",
    f"  00-{CLIENT_TRACE}-{CLIENT_SPAN}-01\t",
    f"00-{CLIENT_TRACE.upper()}-{CLIENT_SPAN}-01",
    f"00-{'0' * 32}-{CLIENT_SPAN}-01",
    f"00-{CLIENT_TRACE}-{'0' * 16}-01",
    f"ff-{CLIENT_TRACE}-{CLIENT_SPAN}-01",
    f"01-{CLIENT_TRACE}-{CLIENT_SPAN}-01-extra",
    f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01-extra",
    f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-1",
    f"00-{CLIENT_TRACE[:-1]}-{CLIENT_SPAN}-01",
    f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01" + " " * 600,
    "garbage",
    "",
]


@pytest.mark.parametrize("header", TRACEPARENTS)
def test_parse_traceparent_matches_the_sdk_propagator(header: str) -> None:
    extracted = TraceContextTextMapPropagator().extract({"traceparent": header})
    expected = trace_api.get_current_span(extracted).get_span_context()
    got = parse_traceparent(header)
    if not expected.is_valid:
        assert got is None
    else:
        assert got == (expected.trace_id, expected.span_id, int(expected.trace_flags))


# -- the request span ------------------------------------------------------------------------------


def test_client_trace_context_is_the_parent(exporter: Captured) -> None:
    tracing = sink(exporter)
    r = record()
    tracing.begin(r, CLIENT_TP, None)
    assert r.traceparent is not None
    version, trace_id, span_id, flags = r.traceparent.split("-")
    assert (version, trace_id, flags) == ("00", CLIENT_TRACE, "01")
    assert span_id != CLIENT_SPAN
    tracing.finish(r)
    span = only(exporter)
    assert span["trace_id"] == CLIENT_TRACE
    # The upstream's parent is the gateway's span, whose parent is the client's span.
    assert span["span_id"] == span_id
    assert span["parent_span_id"] == CLIENT_SPAN
    assert span["flags"] == REMOTE_PARENT
    assert span["kind"] == "server"
    assert span["service"] == n.SERVICE_LLM


def test_tracestate_is_carried_to_the_upstream_and_the_span(
    exporter: Captured,
) -> None:
    tracing = sink(exporter)
    r = record()
    tracing.begin(r, CLIENT_TP, "vendor=abc, other=1")
    assert r.tracestate == "vendor=abc,other=1"
    tracing.finish(r)
    request = ExportTraceServiceRequest()
    request.ParseFromString(OtlpEncoder().encode_batch(Resource({}), None, exporter.items))
    assert request.resource_spans[0].scope_spans[0].spans[0].trace_state == "vendor=abc,other=1"


def test_without_a_client_context_a_new_trace_starts(exporter: Captured) -> None:
    tracing = sink(exporter)
    r = record()
    run(tracing, r, tp=None, ts="vendor=abc")
    assert r.tracestate is None
    span = only(exporter)
    assert span["parent_span_id"] == ""
    assert span["flags"] == 0x100
    assert r.traceparent == f"00-{span['trace_id']}-{span['span_id']}-01"


@pytest.mark.parametrize("bad", ["garbage", f"00-{'0' * 32}-{CLIENT_SPAN}-01"])
def test_an_invalid_client_context_starts_a_new_trace(exporter: Captured, bad: str) -> None:
    tracing = sink(exporter)
    r = record()
    run(tracing, r, tp=bad)
    span = only(exporter)
    assert span["parent_span_id"] == ""
    assert span["trace_id"] != CLIENT_TRACE


def test_an_unsampled_client_context_is_followed(exporter: Captured) -> None:
    tracing = sink(exporter)
    r = record()
    run(tracing, r, tp=f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00")
    assert exporter.items == []
    assert r.traceparent is not None
    assert r.traceparent.startswith(f"00-{CLIENT_TRACE}-")
    assert r.traceparent.endswith("-00")


def test_sampling_ratio_applies_to_new_traces(exporter: Captured) -> None:
    tracing = sink(exporter, sampling_percent=10)
    for _ in range(2000):
        run(tracing, record(), tp=None)
    assert 100 < len(exporter.items) < 300
    # A sampled client context is always followed (ParentBased).
    exporter.items.clear()
    for _ in range(50):
        run(tracing, record())
    assert len(exporter.items) == 50


def test_attributes_name_and_timing(exporter: Captured) -> None:
    tracing = sink(exporter)
    r = record(cached_tokens=4)
    run(tracing, r)
    span = only(exporter)
    assert span["name"] == "POST /v1/chat/completions gpt-4o"
    assert span["attributes"] == {
        n.ATTR_SERVICE_OVERRIDE: n.SERVICE_LLM,
        n.ATTR_HTTP_METHOD: "POST",
        n.ATTR_HTTP_PATH: "/v1/chat/completions",
        n.ATTR_HTTP_STATUS: 200,
        n.ATTR_LISTENER: "llm",
        n.ATTR_LLM_DURATION_MS: 42,
        n.ATTR_REQUEST_ID: "req-1",
        n.ATTR_MODEL_REQUESTED: "gpt-4o",
        n.ATTR_LLM_MODEL: "openai/gpt-4o",
        n.ATTR_LLM_STREAM: False,
        n.ATTR_LLM_PROVIDER: "openai",
        n.ATTR_ROUTE_NAME: "exact",
        n.ATTR_UPSTREAM_STATUS: 200,
        n.ATTR_USAGE_PROMPT: 12,
        n.ATTR_USAGE_COMPLETION: 30,
        n.ATTR_USAGE_TOTAL: 42,
        n.ATTR_USAGE_CACHED: 4,
        n.ATTR_GEN_AI_INPUT_TOKENS: 12,
        n.ATTR_GEN_AI_OUTPUT_TOKENS: 30,
        n.ATTR_GEN_AI_CACHE_READ: 4,
        n.ATTR_GEN_AI_OPERATION: "chat",
        n.ATTR_GEN_AI_PROVIDER: "openai",
        n.ATTR_GEN_AI_REQUEST_MODEL: "gpt-4o",
        n.ATTR_LLM_RESPONSE_BYTES: 630,
        n.ATTR_OVERHEAD_MS: 3.0,
    }
    assert span["start_ns"] == r.wall_start
    assert span["end_ns"] == r.wall_start + 42 * MS
    assert span["status"] == "unset"
    assert span["events"] == []


@pytest.mark.parametrize("cache_limit", [1024, 0])
def test_requests_alike_keep_their_own_values(
    exporter: Captured, monkeypatch: pytest.MonkeyPatch, cache_limit: int
) -> None:
    """What requests alike share is encoded once (or, past the cache's bound, every time); what
    differs between them (ids, timing, usage, bytes) is each request's own."""
    monkeypatch.setattr(otel_spans, "_HEAD_CACHE_LIMIT", cache_limit)
    tracing = sink(exporter)
    first = record(request_id="req-a")
    second = record(request_id="req-b", prompt_tokens=200, completion_tokens=9000)
    second.bytes_out, second.end = 70_000, second.start + 1234 * MS
    second.upstream_done = second.start + 1200 * MS
    run(tracing, first, tp=None)
    run(tracing, second)
    a, b = exporter.spans()
    assert a["trace_id"] != b["trace_id"] and a["span_id"] != b["span_id"]
    assert not a["parent_span_id"] and b["parent_span_id"] == CLIENT_SPAN
    assert (a["name"], a["status"]) == (b["name"], b["status"])
    assert a["attributes"][n.ATTR_REQUEST_ID] == "req-a"
    assert b["attributes"][n.ATTR_REQUEST_ID] == "req-b"
    assert a["attributes"][n.ATTR_LLM_DURATION_MS] == 42
    assert b["attributes"][n.ATTR_LLM_DURATION_MS] == 1234
    assert b["attributes"][n.ATTR_USAGE_PROMPT] == 200
    assert b["attributes"][n.ATTR_USAGE_COMPLETION] == 9000
    assert b["attributes"][n.ATTR_USAGE_TOTAL] == 9200
    assert b["attributes"][n.ATTR_LLM_RESPONSE_BYTES] == 70_000
    assert b["attributes"][n.ATTR_OVERHEAD_MS] == 35.0  # 1234 - (1200 - 1)
    shared = {k: v for k, v in a["attributes"].items() if k not in PER_REQUEST}
    assert shared == {k: v for k, v in b["attributes"].items() if k not in PER_REQUEST}
    assert len(tracing._heads) == min(cache_limit, 1)


def test_name_shows_a_resolved_model_that_differs(exporter: Captured) -> None:
    run(sink(exporter), record(requested_model="fast", route="alias"))
    assert only(exporter)["name"] == "POST /v1/chat/completions fast -> openai/gpt-4o"


def test_name_without_a_model(exporter: Captured) -> None:
    r = RequestRecord("llm", "model", "GET", "/v1/models")
    r.status, r.end = 200, r.start + MS
    run(sink(exporter), r)
    span = only(exporter)
    assert span["name"] == "GET /v1/models"
    assert n.ATTR_LLM_MODEL not in span["attributes"]
    assert n.ATTR_OVERHEAD_MS not in span["attributes"]  # no upstream call: nothing to subtract


@pytest.mark.parametrize(
    ("status", "error_kind", "code"),
    [
        (502, "upstream_status", "error"),
        (504, "timeout", "error"),
        (500, None, "error"),
        (200, "stream", "error"),
        (429, None, "unset"),
        (200, "client", "unset"),
    ],
)
def test_status(exporter: Captured, status: int, error_kind: str | None, code: str) -> None:
    run(sink(exporter), record(status=status, error_kind=error_kind))
    span = only(exporter)
    assert span["status"] == code
    assert span["attributes"].get(n.ATTR_HTTP_STATUS) == status
    if error_kind:
        assert span["attributes"][n.ATTR_ERROR_KIND] == error_kind
    if code == "error" and error_kind:
        assert span["status_message"] == error_kind


def test_stream_has_time_to_first_token(exporter: Captured) -> None:
    r = record(stream=True)
    r.upstream_first_chunk = r.start + 8 * MS
    r.downstream_first_chunk = r.start + 9 * MS
    run(sink(exporter), r)
    span = only(exporter)
    assert span["attributes"][n.ATTR_LLM_TTFT] == 9
    assert span["attributes"][n.ATTR_LLM_STREAM] is True
    (event,) = span["events"]
    assert event == {
        "name": n.EVENT_TTFT,
        "time_ns": r.wall_start + 9 * MS,
        "attributes": {n.ATTR_LLM_TTFT: 9},
    }


def test_header_prefix_and_static_attributes(exporter: Captured) -> None:
    tracing = sink(exporter, header_prefixes=("X-Acme-",), static={"env": "prod", "llm.model": "x"})
    r = record()
    r.request_headers = [
        (b"x-acme-tenant-id", b"t-1"),
        (b"x-acme-user", b"u\xe9"),
        (b"x-acme-", b"empty name"),
        (b"x-other", b"no"),
        (b"authorization", b"Bearer sk-secret"),
    ]
    run(tracing, r)
    attrs = only(exporter)["attributes"]
    assert attrs["tenant.id"] == "t-1"
    assert attrs["user"] == "u\xe9"
    assert attrs["env"] == "prod"
    assert attrs[n.ATTR_LLM_MODEL] == "openai/gpt-4o"  # static never overrides the gateway's own
    assert "other" not in attrs
    assert not any("sk-secret" in str(v) for v in attrs.values())


def test_routing_budget_attributes_reach_the_request_span(exporter: Captured) -> None:
    from plano.observability.record import RoutingNote

    tracing = sink(exporter)
    r = record()
    r.router = RoutingNote("llm")
    r.router.span = {n.ATTR_SWITCH_DECISION: "retained", n.ATTR_SESSION_SWITCHES: 2}
    run(tracing, r)
    attrs = only(exporter)["attributes"]
    assert attrs[n.ATTR_SWITCH_DECISION] == "retained"
    assert attrs[n.ATTR_SESSION_SWITCHES] == 2


@pytest.mark.parametrize("prefixes", [(), ("x-acme-",)])
def test_an_attribute_key_appears_once(exporter: Captured, prefixes: tuple[str, ...]) -> None:
    """Static, header and routing attributes that name the same key as each other or as the
    gateway's own never repeat it in the span: the gateway's value wins, then a header's or the
    static one, then routing's."""
    from plano.observability.record import RoutingNote

    tracing = sink(
        exporter,
        header_prefixes=prefixes,
        static={"team": "static", n.ATTR_LLM_MODEL: "static", n.ATTR_SWITCH_DECISION: "static"},
    )
    r = record()
    r.request_headers = [(b"x-acme-team", b"header")]
    r.router = RoutingNote("llm")
    r.router.span = {
        n.ATTR_SWITCH_DECISION: "retained",
        n.ATTR_REQUEST_ID: "routing",
        "team": "routing",
        n.ATTR_SESSION_SWITCHES: 2,
    }
    run(tracing, r)
    request = ExportTraceServiceRequest()
    request.ParseFromString(OtlpEncoder().encode_batch(Resource({}), None, exporter.items))
    (span,) = [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    keys = [kv.key for kv in span.attributes]
    assert len(keys) == len(set(keys)), keys
    attrs = only(exporter)["attributes"]
    assert attrs[n.ATTR_LLM_MODEL] == "openai/gpt-4o"
    assert attrs[n.ATTR_REQUEST_ID] == "req-1"
    assert attrs["team"] == ("header" if prefixes else "static")
    assert attrs[n.ATTR_SWITCH_DECISION] == "static"
    assert attrs[n.ATTR_SESSION_SWITCHES] == 2


def test_secret_headers_are_never_copied(exporter: Captured) -> None:
    tracing = sink(exporter, header_prefixes=("x-",))
    r = record()
    r.request_headers = [(b"x-api-key", b"sk-secret"), (b"x-team", b"blue")]
    run(tracing, r)
    attrs = only(exporter)["attributes"]
    assert attrs["team"] == "blue"
    assert "api.key" not in attrs


def test_health_checks_and_repeated_finish_make_no_span(exporter: Captured) -> None:
    tracing = sink(exporter)
    probe = record(handler="healthz")
    run(tracing, probe)
    assert exporter.items == []
    r = record()
    run(tracing, r)
    tracing.finish(r)
    assert len(exporter.items) == 1


# -- child spans -----------------------------------------------------------------------------------


def test_child_span_is_a_child_of_the_request_span(exporter: Captured) -> None:
    tracing = sink(exporter, static={"env": "prod"})
    r = record()
    tracing.begin(r, CLIENT_TP, None)
    child = tracing.start_child(r, "routing", n.SERVICE_ROUTING, start_ns=r.start + MS)
    assert child.traceparent is not None
    assert child.traceparent.startswith(f"00-{CLIENT_TRACE}-")
    child.end(end_ns=r.start + 5 * MS, attributes={"route.selected_model": "openai/gpt-4o"})
    child.end()  # once only
    tracing.child_span(
        r,
        "execute_raw_filter (pii)",
        n.SERVICE_FILTER,
        None,
        r.start + 5 * MS,
        r.start + 6 * MS,
        error="timeout",
    )
    tracing.finish(r)
    routing, filt, request = exporter.spans()
    assert request["name"] == "POST /v1/chat/completions gpt-4o"
    for c in (routing, filt):
        assert c["parent_span_id"] == request["span_id"]
        assert c["trace_id"] == CLIENT_TRACE
        assert c["flags"] == 0x100  # a local parent
    assert child.traceparent == f"00-{CLIENT_TRACE}-{routing['span_id']}-01"
    assert (routing["kind"], filt["kind"]) == ("client", "internal")
    assert (routing["service"], filt["service"]) == (n.SERVICE_ROUTING, n.SERVICE_FILTER)
    assert routing["start_ns"] == r.wall_start + MS
    assert routing["end_ns"] == r.wall_start + 5 * MS
    assert routing["attributes"] == {
        "env": "prod",
        "route.selected_model": "openai/gpt-4o",
        n.ATTR_SERVICE_OVERRIDE: n.SERVICE_ROUTING,
        n.ATTR_REQUEST_ID: "req-1",
    }
    assert filt["status"] == "error"
    assert filt["attributes"][n.ATTR_ERROR_KIND] == "timeout"


def test_child_of_an_unsampled_request_records_nothing(exporter: Captured) -> None:
    tracing = sink(exporter)
    r = record()
    tracing.begin(r, f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00", None)
    child = tracing.start_child(r, "routing", n.SERVICE_ROUTING)
    assert child.traceparent == r.traceparent
    child.end()
    tracing.finish(r)
    assert exporter.items == []
