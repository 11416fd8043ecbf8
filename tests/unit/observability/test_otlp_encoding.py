"""The fast OTLP encoder produces the same messages as the SDK's encoder."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import (
    Link,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    TraceState,
)

from plano.observability.otlp_encoding import OtlpEncoder, varint

RESOURCE = Resource.create({"service.name": "plano", "deployment": "test"})
OTHER_RESOURCE = Resource({"service.name": "other"}, schema_url="https://example/schema")
SCOPE = InstrumentationScope("plano", "1.0", "https://example/scope", {"scope.attr": 1})

int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
scalar = st.one_of(
    st.text(max_size=300),
    st.booleans(),
    int64,
    st.floats(allow_nan=False),
    st.binary(max_size=40),
)
value = st.one_of(
    scalar,
    st.lists(st.text(max_size=20), max_size=4).map(tuple),
    st.lists(int64, max_size=4),
    st.lists(st.booleans(), max_size=3),
)
attributes = st.dictionaries(st.text(min_size=1, max_size=40), value, max_size=12)
ids = st.integers(min_value=1, max_value=2**64 - 1)


@st.composite
def spans(draw: Any) -> ReadableSpan:
    trace_id = draw(st.integers(min_value=1, max_value=2**128 - 1))
    state = draw(st.sampled_from([None, TraceState([("vendor", "abc"), ("x", "1")])]))
    context = SpanContext(trace_id, draw(ids), False, TraceFlags(1), state)
    parent = draw(
        st.one_of(
            st.none(),
            st.builds(
                lambda span_id, remote: SpanContext(trace_id, span_id, remote, TraceFlags(1)),
                ids,
                st.booleans(),
            ),
        )
    )
    events = draw(
        st.lists(
            st.builds(
                Event, st.text(max_size=20), attributes, st.integers(min_value=1, max_value=2**63)
            ),
            max_size=2,
        )
    )
    links = draw(
        st.lists(
            st.builds(
                lambda span_id, attrs, remote: Link(
                    SpanContext(7, span_id, remote, TraceFlags(1)), attrs
                ),
                ids,
                attributes,
                st.booleans(),
            ),
            max_size=2,
        )
    )
    status = draw(
        st.sampled_from(
            [
                Status(StatusCode.UNSET),
                Status(StatusCode.OK),
                Status(StatusCode.ERROR),
                Status(StatusCode.ERROR, "boom \u2603"),
            ]
        )
    )
    return ReadableSpan(
        name=draw(st.text(max_size=200)),
        context=context,
        parent=parent,
        resource=draw(st.sampled_from([RESOURCE, OTHER_RESOURCE])),
        attributes=draw(attributes),
        events=events,
        links=links,
        kind=draw(st.sampled_from(list(SpanKind))),
        status=status,
        start_time=draw(st.integers(min_value=0, max_value=2**64 - 1)),
        end_time=draw(st.integers(min_value=0, max_value=2**64 - 1)),
        instrumentation_scope=draw(st.sampled_from([SCOPE, None])),
    )


def decode(data: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    request.ParseFromString(data)
    return request


@settings(max_examples=150, deadline=None)
@given(st.lists(spans(), max_size=6))
def test_same_message_as_the_sdk_encoder(batch: list[ReadableSpan]) -> None:
    assert decode(OtlpEncoder(override_key=None).encode(batch)) == encode_spans(batch)


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_varint(n: int) -> None:
    out, shift = 0, 0
    for i, byte in enumerate(varint(n)):
        out |= (byte & 0x7F) << shift
        shift += 7
        assert (byte & 0x80 == 0) == (i == len(varint(n)) - 1)
    assert out == n


def span(name: str, attrs: dict[str, Any], resource: Resource = RESOURCE) -> ReadableSpan:
    return ReadableSpan(
        name=name,
        context=SpanContext(1, 2, False, TraceFlags(1)),
        resource=resource,
        attributes=attrs,
        instrumentation_scope=SCOPE,
    )


def test_service_override_groups_spans_under_their_own_service() -> None:
    batch = [
        span("llm", {"service.name.override": "plano(llm)", "a": 1}),
        span("plain", {"a": 2}),
        span("routing", {"service.name.override": "plano(routing)"}),
        span("llm2", {"service.name.override": "plano(llm)"}),
        span("elsewhere", {"service.name.override": "plano(llm)"}, OTHER_RESOURCE),
    ]
    request = decode(OtlpEncoder().encode(batch))
    got = []
    for rs in request.resource_spans:
        attrs = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
        names = [s.name for ss in rs.scope_spans for s in ss.spans]
        got.append((attrs["service.name"], attrs.get("deployment"), names))
    assert got == [
        ("plano(llm)", "test", ["llm", "llm2"]),
        ("plano", "test", ["plain"]),
        ("plano(routing)", "test", ["routing"]),
        ("plano(llm)", None, ["elsewhere"]),
    ]
    # Everything else about the spans is what the SDK encodes.
    sdk = {
        s.name: s
        for rs in encode_spans(batch).resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    }
    for rs in request.resource_spans:
        for ss in rs.scope_spans:
            for s in ss.spans:
                assert s == sdk[s.name]


def test_the_encoder_is_reusable_across_batches() -> None:
    encoder = OtlpEncoder()
    first = [span("a", {"service.name.override": "plano(llm)", "k": "v"})]
    second = [span("b", {"service.name.override": "plano(llm)", "k": "w"})]
    assert decode(encoder.encode(first)) == decode(OtlpEncoder().encode(first))
    assert decode(encoder.encode(second)) == decode(OtlpEncoder().encode(second))
    assert encoder.encode([]) == b""


def test_encode_batch_wraps_span_bodies_like_the_sdk() -> None:
    """What tracing queues (`span_fields` bodies) and the batcher sends (`encode_batch`) is
    what the SDK would send for the same spans."""
    encoder = OtlpEncoder(override_key=None)
    batch = [
        span("a", {"k": 1}),
        ReadableSpan(
            name="b",
            context=SpanContext(3, 4, False, TraceFlags(1)),
            parent=SpanContext(3, 2, True, TraceFlags(1)),
            resource=RESOURCE,
            attributes={"s": "x"},
            events=[Event("e", {"n": 1}, 9)],
            status=Status(StatusCode.ERROR, "boom"),
            instrumentation_scope=SCOPE,
            start_time=5,
            end_time=6,
            kind=SpanKind.SERVER,
        ),
    ]
    bodies = [(None, encoder.span(s)) for s in batch]
    assert decode(encoder.encode_batch(RESOURCE, SCOPE, bodies)) == encode_spans(batch)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([None, "plano(llm)", "plano(routing)"]), spans()),
        min_size=1,
        max_size=6,
    ),
    st.sampled_from([RESOURCE, OTHER_RESOURCE]),
    st.sampled_from([SCOPE, InstrumentationScope("bare")]),
    st.sampled_from([0, 100, 20_000]),
)
def test_encode_batch_groups_by_service_like_encode(
    items: list[tuple[str | None, ReadableSpan]],
    resource: Resource,
    scope: InstrumentationScope,
    pad: int,
) -> None:
    """Bodies of any size (one- to three-byte lengths) and services in any order: the batch is
    what `encode` (checked against the SDK above) makes for the same spans."""
    key = "service.name.override"
    same = [
        ReadableSpan(
            name=s.name,
            context=s.context,
            parent=s.parent,
            resource=resource,
            attributes={**(s.attributes or {}), "pad": "x" * pad, **({key: svc} if svc else {})},
            events=s.events,
            links=s.links,
            status=s.status,
            instrumentation_scope=scope,
            start_time=s.start_time,
            end_time=s.end_time,
            kind=s.kind,
        )
        for svc, s in items
    ]
    encoder = OtlpEncoder()
    bodies = [(svc, encoder.span(s)) for (svc, _), s in zip(items, same, strict=True)]
    assert decode(encoder.encode_batch(resource, scope, bodies)) == decode(encoder.encode(same))
