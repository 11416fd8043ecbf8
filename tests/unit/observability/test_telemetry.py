"""`Telemetry.child`: a real child span when tracing is on, the shared no-op otherwise."""

from __future__ import annotations

from plano.observability import names as n
from plano.observability.otel_spans import OtelTracing
from plano.observability.record import RequestRecord
from plano.observability.telemetry import NO_SPAN, Telemetry

CLIENT_TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class Queue:
    def __init__(self) -> None:
        self.items: list[tuple[str | None, bytes]] = []

    def add(self, service: str | None, span: bytes) -> None:
        self.items.append((service, span))


def record() -> RequestRecord:
    return RequestRecord("a", "agent", "POST", "/v1/chat/completions")


def test_without_tracing_child_is_the_shared_no_op() -> None:
    telemetry = Telemetry()
    assert not telemetry.traced
    span = telemetry.child(record(), "x", n.SERVICE_AGENT)
    assert span is NO_SPAN
    assert span.traceparent is None
    span.end(error="e", attributes={"k": 1})  # nothing to record, no error


def test_with_tracing_child_is_a_span_of_the_request() -> None:
    queue = Queue()
    telemetry = Telemetry(tracing=OtelTracing(queue))
    r = record()
    telemetry.begin(r, CLIENT_TP, None)
    assert telemetry.traced
    span = telemetry.child(r, "flight_agent /v1/chat/completions", n.SERVICE_AGENT)
    assert span is not NO_SPAN
    assert span.traceparent is not None
    assert span.traceparent.split("-")[1] == CLIENT_TP.split("-")[1]
    assert span.traceparent != r.traceparent
    span.end()
    assert [service for service, _ in queue.items] == [n.SERVICE_AGENT]
