"""The receiver's servers on loopback: the SDK's OTLP exporters (gRPC and HTTP) in, JSON out."""

from __future__ import annotations

import base64
import gzip
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from plano.observability.otel_export import GrpcSender, HttpSender
from plano.observability.otlp_encoding import OtlpEncoder
from plano.tracecollector.server import Collector, QueryError, parse_query

RESOURCE = Resource({"service.name": "plano"})


def spans(trace_id: int, n: int = 2) -> list[ReadableSpan]:
    return [
        ReadableSpan(
            name=f"span {i}",
            context=SpanContext(trace_id, i + 1, False, TraceFlags(1)),
            parent=SpanContext(trace_id, 1, False, TraceFlags(1)) if i else None,
            resource=RESOURCE,
            attributes={
                "service.name.override": "plano(llm)",
                "llm.model": "openai/gpt-4o",
                "http.status_code": 200,
            },
            kind=SpanKind.SERVER,
            start_time=1_000 + i,
            end_time=2_000 + i,
        )
        for i in range(n)
    ]


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector("127.0.0.1", 0, 0) as c:
        yield c


def get(c: Collector, path: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{c.http_port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def post(c: Collector, body: bytes, headers: dict[str, str], path: str = "/v1/traces") -> int:
    req = urllib.request.Request(
        f"http://127.0.0.1:{c.http_port}{path}", data=body, headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_the_sdk_exporters_deliver_to_the_receiver(collector: Collector, protocol: str) -> None:
    sender: GrpcSender | HttpSender
    if protocol == "grpc":
        sender = GrpcSender(f"http://127.0.0.1:{collector.grpc_port}")
    else:
        sender = HttpSender(f"http://127.0.0.1:{collector.http_port}/v1/traces")
    try:
        assert sender.send(OtlpEncoder().encode(spans(0xAB)))
        assert sender.send(OtlpEncoder().encode(spans(0xCD, 1)))
    finally:
        sender.shutdown()
        sender.shutdown()  # idempotent
    assert not sender.send(OtlpEncoder().encode(spans(0xEF)))
    status, body = get(collector, "/api/traces")
    assert status == 200
    assert [(t["trace_id"][-2:], t["span_count"]) for t in body["traces"]] == [
        ("ab", 2),
        ("cd", 1),
    ]
    assert body["traces"][0]["spans"][0]["service"] == "plano(llm)"
    status, health = get(collector, "/api/health")
    assert health == {
        "status": "ok",
        "traces": 2,
        "grpc_port": collector.grpc_port,
        "http_port": collector.http_port,
    }


def test_gzip_bodies_are_accepted(collector: Collector) -> None:
    body = gzip.compress(OtlpEncoder().encode(spans(0xEE, 1)))
    headers = {"content-type": "application/x-protobuf", "content-encoding": "gzip"}
    assert post(collector, body, headers) == 200
    assert (
        get(collector, "/api/traces?trace_id=" + f"{0xEE:032x}")[1]["traces"][0]["span_count"] == 1
    )


@pytest.mark.parametrize(
    ("body", "headers", "path", "status"),
    [
        (b"\xff\xff\xff", {"content-type": "application/x-protobuf"}, "/v1/traces", 400),
        (b"{}", {"content-type": "text/plain"}, "/v1/traces", 415),
        (b"{not json", {"content-type": "application/json"}, "/v1/traces", 400),
        (b"[]", {"content-type": "application/json"}, "/v1/traces", 400),
        (
            b"x",
            {"content-type": "application/x-protobuf", "content-encoding": "br"},
            "/v1/traces",
            400,
        ),
        (b"", {"content-type": "application/x-protobuf"}, "/v1/metrics", 404),
    ],
)
def test_bad_posts(
    collector: Collector, body: bytes, headers: dict[str, str], path: str, status: int
) -> None:
    assert post(collector, body, headers, path) == status
    assert len(collector.store) == 0


@pytest.mark.parametrize(
    "query", ["trace_id=xyz", "status=bad", "since=yesterday", "limit=many", f"trace_id={'a' * 33}"]
)
def test_bad_queries_are_400(collector: Collector, query: str) -> None:
    status, body = get(collector, f"/api/traces?{query}")
    assert status == 400
    assert body["error"]


def test_unknown_paths_are_404(collector: Collector) -> None:
    assert get(collector, "/nope")[0] == 404


def test_parse_query() -> None:
    q = parse_query(
        {
            "trace_id": ["ABCDEF12"],
            "model": ["gpt-*"],
            "status": ["error"],
            "since": ["1.5"],
            "limit": ["3"],
        },
        now_ns=10_000_000_000,
    )
    assert (q.trace_id, q.model, q.status, q.since_ns, q.limit) == (
        "abcdef12",
        "gpt-*",
        "error",
        8_500_000_000,
        3,
    )
    empty = parse_query({"model": [" "]}, now_ns=0)
    assert (empty.model, empty.since_ns, empty.limit) == (None, None, 20)
    with pytest.raises(QueryError):
        parse_query({"status": ["5xx"]}, now_ns=0)


def test_a_taken_port_is_an_os_error(collector: Collector) -> None:
    with pytest.raises(OSError):
        Collector("127.0.0.1", 0, collector.http_port).start()
    with pytest.raises(OSError):
        Collector("127.0.0.1", collector.grpc_port, 0).start()


TRACE_HEX = "5b8efff798038103d269b633813fc60c"
# OTLP/JSON as the specification writes it: lowerCamelCase, hex ids, enums as integers, 64-bit
# integers as strings (or numbers), unknown fields to be ignored.
OTLP_JSON: dict[str, Any] = {
    "resourceSpans": [
        {
            "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "app"}}]},
            "scopeSpans": [
                {
                    "scope": {"name": "my.library", "version": "1.0.0"},
                    "spans": [
                        {
                            "traceId": TRACE_HEX,
                            "spanId": "eee19b7ec3c1b174",
                            "parentSpanId": "eee19b7ec3c1b173",
                            "name": "I'm a server span",
                            "startTimeUnixNano": "1544712660000000000",
                            "endTimeUnixNano": 1544712661000000000,
                            "kind": 2,
                            "status": {"code": 2, "message": "boom"},
                            "attributes": [
                                {"key": "llm.model", "value": {"stringValue": "openai/gpt-4o"}},
                                {"key": "http.status_code", "value": {"intValue": "502"}},
                                {"key": "llm.is_streaming", "value": {"boolValue": True}},
                                {"key": "ratio", "value": {"doubleValue": 0.5}},
                                {
                                    "key": "tags",
                                    "value": {"arrayValue": {"values": [{"stringValue": "a"}]}},
                                },
                            ],
                            "events": [
                                {
                                    "timeUnixNano": "1544712660500000000",
                                    "name": "llm.time_to_first_token",
                                    "attributes": [{"key": "ms", "value": {"intValue": 500}}],
                                }
                            ],
                            "links": [{"traceId": "a" * 32, "spanId": "b" * 16}],
                            "aFieldFromTheFuture": {"x": 1},
                        },
                        {
                            "traceId": TRACE_HEX,
                            "spanId": "eee19b7ec3c1b175",
                            "parentSpanId": "",
                            "name": "root",
                            "kind": 1,
                        },
                    ],
                }
            ],
        }
    ]
}


@pytest.mark.parametrize("gzipped", [False, True])
def test_otlp_json_is_accepted(collector: Collector, gzipped: bool) -> None:
    body = json.dumps(OTLP_JSON).encode()
    headers = {"content-type": "application/json"}
    if gzipped:
        body = gzip.compress(body)
        headers["content-encoding"] = "gzip"
    req = urllib.request.Request(
        f"http://127.0.0.1:{collector.http_port}/v1/traces", data=body, headers=headers
    )
    with urllib.request.urlopen(req, timeout=5) as r:
        assert (r.status, r.headers["content-type"], json.loads(r.read())) == (
            200,
            "application/json",
            {},
        )
    (t,) = get(collector, f"/api/traces?trace_id={TRACE_HEX}")[1]["traces"]
    root, server = t["spans"]
    assert (root["name"], root["kind"], root["parent_span_id"]) == ("root", "internal", "")
    assert server == {
        "trace_id": TRACE_HEX,
        "span_id": "eee19b7ec3c1b174",
        "parent_span_id": "eee19b7ec3c1b173",
        "name": "I'm a server span",
        "kind": "server",
        "service": "app",
        "start_ns": 1544712660000000000,
        "end_ns": 1544712661000000000,
        "status": "error",
        "status_message": "boom",
        "attributes": {
            "llm.model": "openai/gpt-4o",
            "http.status_code": 502,
            "llm.is_streaming": True,
            "ratio": 0.5,
            "tags": ["a"],
        },
        "events": [
            {"name": "llm.time_to_first_token", "time_ns": 1544712660500000000,
             "attributes": {"ms": 500}}
        ],
    }  # fmt: skip


def test_otlp_json_and_protobuf_give_the_same_spans(collector: Collector) -> None:
    """The SDK-encoded protobuf, and the same message in OTLP/JSON (protobuf's JSON mapping with
    the ids turned into hex), are stored alike."""
    from google.protobuf import json_format
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    encoded = OtlpEncoder().encode(spans(0x1234, 3))
    assert post(collector, encoded, {"content-type": "application/x-protobuf"}) == 200
    via_protobuf = get(collector, "/api/traces")[1]["traces"]
    message = ExportTraceServiceRequest()
    message.ParseFromString(encoded)
    doc = json_format.MessageToDict(message)
    for rs in doc["resourceSpans"]:
        for ss in rs["scopeSpans"]:
            for s in ss["spans"]:
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64decode(s[key]).hex()
    with Collector("127.0.0.1", 0, 0) as other:
        assert post(other, json.dumps(doc).encode(), {"content-type": "application/json"}) == 200
        assert get(other, "/api/traces")[1]["traces"] == via_protobuf


@pytest.mark.parametrize(
    "bad_id",
    [{"traceId": "zz" * 16}, {"spanId": "abc"}, {"traceId": 7}, {"parentSpanId": "AQID"}],
)
def test_otlp_json_ids_must_be_hex(collector: Collector, bad_id: dict[str, Any]) -> None:
    span_doc = {"traceId": TRACE_HEX, "spanId": "eee19b7ec3c1b174", "name": "x", **bad_id}
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [span_doc]}]}]}
    body = json.dumps(doc).encode()
    assert post(collector, body, {"content-type": "application/json; charset=utf-8"}) == 400
    assert len(collector.store) == 0


def test_where_in_the_query_api(collector: Collector) -> None:
    body = json.dumps(OTLP_JSON).encode()
    assert post(collector, body, {"content-type": "application/json"}) == 200
    found = get(collector, "/api/traces?where=http.status_code=502&where=llm.model=openai/gpt-4o")
    assert [t["trace_id"] for t in found[1]["traces"]] == [TRACE_HEX]
    assert get(collector, "/api/traces?where=http.status_code=200")[1]["traces"] == []
    status, body = get(collector, "/api/traces?where=no.such.key=1")
    assert status == 400
    assert "no.such.key" in body["error"]
    status, body = get(collector, "/api/traces?where=llm.model")
    assert status == 400
