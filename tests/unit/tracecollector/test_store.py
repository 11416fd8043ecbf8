"""The receiver's store: merge by trace id, capacity, roots kept, filters."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from plano.observability.otlp_encoding import OtlpEncoder
from plano.tracecollector.store import TraceQuery, TraceStore, spans_from_request

S = 1_000_000_000
T0 = 1_800_000_000 * S


def span(
    trace: int,
    span_id: int,
    parent: int = 0,
    *,
    start: int = 0,
    model: str | None = None,
    code: int | None = None,
    error: bool = False,
) -> dict[str, Any]:
    attrs: dict[str, Any] = {}
    if model:
        attrs["llm.model"] = model
    if code is not None:
        attrs["http.status_code"] = code
    return {
        "trace_id": f"{trace:032x}",
        "span_id": f"{span_id:016x}",
        "parent_span_id": f"{parent:016x}" if parent else "",
        "name": f"span {span_id}",
        "kind": "server",
        "service": "plano(llm)",
        "start_ns": T0 + start,
        "end_ns": T0 + start + 1000,
        "status": "error" if error else "unset",
        "status_message": "",
        "attributes": attrs,
        "events": [],
    }


def test_spans_merge_by_trace_id_across_batches() -> None:
    store = TraceStore()
    store.add([span(1, 2, 1), span(2, 5)])
    store.add([span(1, 1), span(1, 3, 1)])
    by_id = {t["trace_id"]: t for t in store.query(TraceQuery(limit=10))}
    one = by_id[f"{1:032x}"]
    assert [s["span_id"] for s in one["spans"]] == [f"{i:016x}" for i in (2, 1, 3)]
    assert one["span_count"] == 3
    assert one["root"] == "span 1"
    assert by_id[f"{2:032x}"]["span_count"] == 1


def test_a_repeated_span_replaces_the_earlier_copy() -> None:
    store = TraceStore()
    store.add([span(1, 1), span(1, 1, code=500)])
    (t,) = store.query()
    assert t["span_count"] == 1
    assert t["spans"][0]["attributes"]["http.status_code"] == 500


def test_capacity_forgets_the_least_recently_updated_trace() -> None:
    store = TraceStore(capacity=2)
    store.add([span(1, 1)])
    store.add([span(2, 1)])
    store.add([span(1, 2, 1)])  # trace 1 is fresh again
    store.add([span(3, 1)])
    assert sorted(t["trace_id"][-1] for t in store.query()) == ["1", "3"]
    assert len(store) == 2


def test_a_full_trace_keeps_its_root_even_when_children_came_first() -> None:
    store = TraceStore(max_spans=3)
    store.add([span(1, i, 1) for i in range(2, 7)])
    store.add([span(1, 1)])
    (t,) = store.query()
    ids = [s["span_id"] for s in t["spans"]]
    assert f"{1:016x}" in ids
    assert len(ids) == 3
    assert t["dropped_spans"] == 3
    assert t["root"] == "span 1"


def test_a_full_trace_of_roots_drops_the_newcomer() -> None:
    store = TraceStore(max_spans=2)
    store.add([span(1, 1), span(1, 2), span(1, 3)])
    (t,) = store.query()
    assert [s["span_id"][-1] for s in t["spans"]] == ["1", "2"]
    assert t["dropped_spans"] == 1


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        TraceStore(capacity=0)


@pytest.fixture
def store() -> TraceStore:
    s = TraceStore()
    s.add([span(0xA1, 1, start=1 * S, model="openai/gpt-4o", code=200)])
    s.add([span(0xA2, 1, start=2 * S, model="anthropic/claude-sonnet-4", code=502, error=True)])
    s.add(
        [
            span(0xA3, 1, start=3 * S, code=429),
            span(0xA3, 2, 1, start=3 * S, model="openai/gpt-4o-mini"),
        ]
    )
    return s


def ids(traces: list[dict[str, Any]]) -> list[str]:
    return [t["trace_id"][-2:] for t in traces]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (TraceQuery(), ["a3", "a2", "a1"]),
        (TraceQuery(limit=1), ["a3"]),
        (TraceQuery(limit=0), []),
        (TraceQuery(model="openai/*"), ["a3", "a1"]),
        (TraceQuery(model="GPT-4O"), []),
        (TraceQuery(model="*GPT-4o"), ["a1"]),
        (TraceQuery(model="*claude*"), ["a2"]),
        (TraceQuery(status="error"), ["a3", "a2"]),
        (TraceQuery(status="200"), ["a1"]),
        (TraceQuery(status="404"), []),
        (TraceQuery(since_ns=T0 + 2 * S), ["a3", "a2"]),
        (TraceQuery(trace_id=f"{0xA2:032x}"), ["a2"]),
        (TraceQuery(trace_id="00000000"), ["a3", "a2", "a1"]),
        (TraceQuery(trace_id="ffffffff"), []),
        (TraceQuery(model="openai/*", status="429"), ["a3"]),
        (TraceQuery(where=(("llm.model", "openai/gpt-4o"),)), ["a1"]),
        (TraceQuery(where=(("llm.model", "openai/*"),)), []),  # a value, not a glob
        (TraceQuery(where=(("http.status_code", "429"),)), ["a3"]),
        # every pair must hold, each on some span of the trace (here: two different spans)
        (
            TraceQuery(where=(("http.status_code", "429"), ("llm.model", "openai/gpt-4o-mini"))),
            ["a3"],
        ),
        (TraceQuery(where=(("http.status_code", "200"), ("llm.model", "openai/gpt-4o-mini"))), []),
        (TraceQuery(where=(("no.such.key", "x"),)), []),
    ],
)
def test_filters(store: TraceStore, query: TraceQuery, expected: list[str]) -> None:
    assert ids(store.query(query)) == expected


def test_spans_from_an_otlp_request() -> None:
    resource = Resource({"service.name": "plano"})
    spans = [
        ReadableSpan(
            name="POST /v1/chat/completions gpt-4o",
            context=SpanContext(0xAB, 0xCD, False, TraceFlags(1)),
            parent=SpanContext(0xAB, 0xEF, True, TraceFlags(1)),
            resource=resource,
            attributes={
                "service.name.override": "plano(llm)",
                "llm.model": "openai/gpt-4o",
                "http.status_code": 502,
                "llm.is_streaming": True,
                "tags": ["a", "b"],
                "raw": b"\x01",
            },
            events=[Event("llm.time_to_first_token", {"llm.time_to_first_token": 9}, 5)],
            kind=SpanKind.SERVER,
            status=Status(StatusCode.ERROR, "upstream_status"),
            start_time=1,
            end_time=2,
        ),
        ReadableSpan(
            name="other",
            context=SpanContext(0xAB, 0x11, False, TraceFlags(1)),
            resource=resource,
            kind=SpanKind.CLIENT,
        ),
    ]
    request = ExportTraceServiceRequest()
    request.ParseFromString(OtlpEncoder().encode(spans))
    first, second = spans_from_request(request)
    assert first == {
        "trace_id": f"{0xAB:032x}",
        "span_id": f"{0xCD:016x}",
        "parent_span_id": f"{0xEF:016x}",
        "name": "POST /v1/chat/completions gpt-4o",
        "kind": "server",
        "service": "plano(llm)",
        "start_ns": 1,
        "end_ns": 2,
        "status": "error",
        "status_message": "upstream_status",
        "attributes": {
            "service.name.override": "plano(llm)",
            "llm.model": "openai/gpt-4o",
            "http.status_code": 502,
            "llm.is_streaming": True,
            "tags": ["a", "b"],
            "raw": "01",
        },
        "events": [
            {
                "name": "llm.time_to_first_token",
                "time_ns": 5,
                "attributes": {"llm.time_to_first_token": 9},
            }
        ],
    }
    assert (second["service"], second["kind"], second["parent_span_id"]) == ("plano", "client", "")


@pytest.mark.parametrize(
    ("value", "text", "matches"),
    [
        (True, "true", True),
        (True, "True", True),
        (False, "false", True),
        (True, "1", False),
        (7, "7", True),
        (7, "7.0", False),
        (1.5, "1.5", True),
        ("GPT", "gpt", False),
        (["a", "b"], '["a","b"]', True),
    ],
)
def test_where_compares_the_value_as_text(value: Any, text: str, matches: bool) -> None:
    store = TraceStore()
    s = span(1, 1)
    s["attributes"]["k"] = value
    store.add([s])
    assert len(store.query(TraceQuery(where=(("k", text),)))) == int(matches)


def test_unknown_keys(store: TraceStore) -> None:
    assert store.unknown_keys(["llm.model", "http.status_code"]) == []
    assert store.unknown_keys(["nope", "llm.model", "also.nope", "nope"]) == ["nope", "also.nope"]
    assert TraceStore().unknown_keys(["nope"]) == []  # nothing stored: nothing is unknown
