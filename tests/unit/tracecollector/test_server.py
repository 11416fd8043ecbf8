"""The receiver's servers on loopback: the SDK's OTLP exporters (gRPC and HTTP) in, JSON out."""

from __future__ import annotations

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
        (b"{}", {"content-type": "application/json"}, "/v1/traces", 415),
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
