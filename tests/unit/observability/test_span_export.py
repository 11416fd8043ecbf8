"""`build_tracing`: on/off, and the export pipeline (batching, flushing, shutdown, a full
queue, a stuck exporter) with a sender that keeps what it was given."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from plano.config.sections import SpanAttributesConfig, TracingConfig
from plano.observability import names as n
from plano.observability.span_batch import RENDER_CHUNK
from plano.observability.tracing import build_tracing
from tests.unit.observability.test_tracing import CLIENT_TP, Span, decode, record, run

# -- build_tracing ---------------------------------------------------------------------------------


class MemorySender:
    """A `SpanSender` keeping the OTLP requests it was given."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.closed = False
        self.sent = threading.Event()

    def send(self, request: bytes) -> bool:
        self.requests.append(request)
        self.sent.set()
        return True

    def shutdown(self) -> None:
        self.closed = True

    def spans(self) -> list[Span]:
        return [span for request in self.requests for span in decode(request)]


def config(**kw: Any) -> TracingConfig:
    return TracingConfig.model_validate(kw)


@pytest.mark.parametrize(
    ("settings", "env"),
    [
        (None, {}),
        (config(), {}),
        (config(random_sampling=0, opentracing_grpc_endpoint="http://c:4317"), {}),
        (config(random_sampling=100), {"OTEL_SDK_DISABLED": "true"}),
    ],
)
def test_tracing_off_builds_nothing(settings: TracingConfig | None, env: dict[str, str]) -> None:
    assert build_tracing(settings, env, sender=MemorySender()) is None


@pytest.fixture
def sender() -> MemorySender:
    return MemorySender()


@pytest.fixture
def built(sender: MemorySender) -> Iterator[Any]:
    settings = config(
        random_sampling=100,
        span_attributes=SpanAttributesConfig(header_prefixes=("x-acme-",), static={"team": "a"}),
    )
    tracing = build_tracing(settings, {"OTEL_SERVICE_NAME": "edge"}, sender=sender)
    assert tracing is not None
    yield tracing
    assert tracing.shutdown()
    assert sender.closed


def test_built_tracing_batches_and_flushes(built: Any, sender: MemorySender) -> None:
    r = record()
    r.request_headers = [(b"x-acme-tenant", b"t")]
    built.begin(r, CLIENT_TP, None)
    child = built.start_child(r, "routing", n.SERVICE_ROUTING)
    child.end()
    built.finish(r)
    assert sender.requests == []  # nothing is sent from the request path
    built.force_flush()
    (request_bytes,) = sender.requests
    request = ExportTraceServiceRequest()
    request.ParseFromString(request_bytes)
    services = []
    for rs in request.resource_spans:
        resource = {kv.key: kv.value.string_value for kv in rs.resource.attributes}
        services.append(resource["service.name"])
        assert rs.scope_spans[0].scope.name == "plano"
    assert services == [n.SERVICE_ROUTING, n.SERVICE_LLM]  # per-span service, as a resource
    routing, span = sender.spans()
    assert routing["parent_span_id"] == span["span_id"]
    assert span["attributes"]["team"] == "a"
    assert span["attributes"]["tenant"] == "t"


def test_the_batch_size_triggers_an_export(sender: MemorySender) -> None:
    env = {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "4", "OTEL_BSP_SCHEDULE_DELAY": "600000"}
    tracing = build_tracing(config(random_sampling=100), env, sender=sender)
    assert tracing is not None
    try:
        for _ in range(3):
            run(tracing.sink, record(), tp=None)
        # Three spans wait for a fourth (or the delay): nothing encoded, nothing sent.
        assert len(tracing._batcher._pending) == 3 and not sender.requests
        run(tracing.sink, record(), tp=None)
        # The fourth span completes a batch: it is encoded and the export thread sends it.
        assert sender.sent.wait(10)
        assert len(sender.spans()) == 4
    finally:
        assert tracing.shutdown(timeout=10)


def test_spans_are_encoded_in_runs_and_sent_by_the_batch(sender: MemorySender) -> None:
    env = {"OTEL_BSP_SCHEDULE_DELAY": "600000"}  # the default batch of 512, no timer
    tracing = build_tracing(config(random_sampling=100), env, sender=sender)
    assert tracing is not None
    batcher = tracing._batcher
    try:
        for _ in range(RENDER_CHUNK + 2):
            run(tracing.sink, record(), tp=None)
        # One run encoded the first RENDER_CHUNK spans; they wait for a whole batch.
        assert (len(batcher._pending), len(batcher._encoded)) == (2, RENDER_CHUNK)
        assert not sender.requests
        for _ in range(512 - RENDER_CHUNK - 2):
            run(tracing.sink, record(), tp=None)
        assert sender.sent.wait(10)
        assert len(sender.spans()) == 512
        assert (len(batcher._pending), len(batcher._encoded)) == (0, 0)
    finally:
        assert tracing.shutdown(timeout=10)


def test_pending_spans_go_after_the_delay(sender: MemorySender) -> None:
    env = {"OTEL_BSP_SCHEDULE_DELAY": "20"}  # ms; the batch (512) is never full here
    tracing = build_tracing(config(random_sampling=100), env, sender=sender)
    assert tracing is not None
    try:
        run(tracing.sink, record(), tp=None)
        assert sender.sent.wait(10)
        assert len(sender.spans()) == 1
    finally:
        assert tracing.shutdown(timeout=10)


def test_shutdown_exports_what_is_queued(sender: MemorySender) -> None:
    tracing = build_tracing(config(random_sampling=100), {}, sender=sender)
    assert tracing is not None
    for _ in range(3):
        run(tracing.sink, record(), tp=None)
    assert tracing.shutdown(timeout=10)
    assert len(sender.spans()) == 3
    assert sender.closed


def test_a_full_queue_drops_new_spans(sender: MemorySender) -> None:
    env = {"OTEL_BSP_MAX_QUEUE_SIZE": "2", "OTEL_BSP_SCHEDULE_DELAY": "600000"}
    tracing = build_tracing(config(random_sampling=100), env, sender=sender)
    assert tracing is not None
    # Hold the export lock so the export thread, woken by the full queue, cannot drain it yet.
    with tracing._batcher._export_lock:
        for _ in range(5):
            run(tracing.sink, record(), tp=None)
    assert tracing._batcher.dropped == 3
    assert tracing.shutdown(timeout=10)
    assert len(sender.spans()) == 2


def test_a_stuck_exporter_does_not_hold_shutdown() -> None:
    entered, release = threading.Event(), threading.Event()

    class Stuck(MemorySender):
        def send(self, request: bytes) -> bool:
            entered.set()
            release.wait(30)
            return False

        def shutdown(self) -> None:
            release.set()  # what the SDK exporters do: abort the retry wait

    tracing = build_tracing(config(random_sampling=100), {}, sender=Stuck())
    assert tracing is not None
    run(tracing.sink, record(), tp=None)
    thread = threading.Thread(target=tracing.force_flush, daemon=True)
    thread.start()
    assert entered.wait(10)
    assert tracing.shutdown(timeout=0.2) is False
    thread.join(5)
    assert not thread.is_alive()
