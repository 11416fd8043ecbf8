"""CPU cost of tracing per request in a tight loop, in microseconds.

    python bench/trace_cost.py [--n 20000] [--rounds 5]

- `begin+finish`: what a sampled request pays on its own path (`OtelTracing.begin` / `finish`
  with tracing at 100 %: sampling, ids, capturing the span's values), with and without a client
  `traceparent`;
- `unsampled`: the same when the request is not sampled;
- `encode`: what encoding costs per span, once its batch is complete (`render_span` and
  `OtlpEncoder.encode_batch`; sending not included);
- `sdk tracer` / `sdk encoder`: the same span made and encoded the usual SDK way, for reference.

Prints the median of the rounds. Inside a serving process the same code costs two to three times
more; `bench/ab.py tracing` measures the real thing (docs/performance.md).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from plano.observability.otel_spans import OtelTracing
from plano.observability.otlp_encoding import OtlpEncoder
from plano.observability.record import RequestRecord
from plano.observability.span_render import PendingSpan, render_span

TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
MS = 1_000_000


class Queued:
    """A `SpanQueue` keeping the first 512 spans."""

    def __init__(self) -> None:
        self.spans: list[tuple[str | None, bytes | PendingSpan]] = []

    def add(self, service: str | None, span: bytes | PendingSpan) -> None:
        if len(self.spans) < 512:
            self.spans.append((service, span))


class Keep(SpanExporter):
    """Keeps the first spans (to encode them later) and drops the rest."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if len(self.spans) < 512:
            self.spans.extend(spans)
        return SpanExportResult.SUCCESS


def record() -> RequestRecord:
    r = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    r.handler, r.request_id = "llm_chat", "4bd0c0a4-3c3c-4a59-9b8b-6a2f0f1e0d3b"
    r.requested_model, r.model, r.upstream_model, r.provider = (
        "gpt-4o",
        "openai/gpt-4o",
        "gpt-4o",
        "openai",
    )
    r.route, r.status, r.upstream_status = "exact", 200, 200
    r.upstream_sent, r.upstream_done, r.end = r.start + MS, r.start + 40 * MS, r.start + 42 * MS
    r.prompt_tokens, r.completion_tokens, r.bytes_out = 12, 30, 630
    return r


def per_call(fn: Callable[[], object], n: int, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        samples.append((time.perf_counter() - t0) / n * 1e6)
    return statistics.median(samples)


def _sdk_spans(keep: Keep) -> list[ReadableSpan]:
    """Spans with the attributes our request spans have, made by the SDK's Tracer."""
    provider = TracerProvider(resource=Resource.create({"service.name": "plano"}))
    provider.add_span_processor(BatchSpanProcessor(keep, max_queue_size=1 << 20))
    tracer = provider.get_tracer("plano")
    attrs = {
        "service.name.override": "plano(llm)",
        "request_id": "4bd0c0a4-3c3c-4a59-9b8b",
        "http.method": "POST",
        "http.path": "/v1/chat/completions",
        "http.status_code": 200,
        "plano.listener": "llm",
        "llm.duration_ms": 42,
        "model.requested": "gpt-4o",
        "llm.model": "openai/gpt-4o",
        "llm.is_streaming": False,
        "llm.provider": "openai",
        "plano.route.name": "exact",
        "plano.upstream.status_code": 200,
        "llm.usage.prompt_tokens": 12,
        "llm.usage.completion_tokens": 30,
        "llm.usage.total_tokens": 42,
        "llm.response_bytes": 630,
        "plano.overhead_ms": 3.0,
    }
    for _ in range(512):
        span = tracer.start_span("POST /v1/chat/completions gpt-4o", kind=SpanKind.SERVER)
        span.set_attributes(attrs)
        span.end()
    provider.force_flush()
    provider.shutdown()
    return keep.spans[:512]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    resource = Resource.create({"service.name": "plano"})
    queue = Queued()
    on = OtelTracing(queue, sampling_percent=100)
    off = OtelTracing(queue, sampling_percent=0.001)

    def request(tracing: OtelTracing, tp: str | None) -> Callable[[], None]:
        def go() -> None:
            r = record()
            tracing.begin(r, tp, None)
            tracing.finish(r)

        return go

    baseline = per_call(record, args.n, args.rounds)  # making the record itself
    rows = [
        ("begin+finish, new trace", per_call(request(on, None), args.n, args.rounds) - baseline),
        (
            "begin+finish, client traceparent",
            per_call(request(on, TRACEPARENT), args.n, args.rounds) - baseline,
        ),
        ("unsampled (begin only)", per_call(request(off, None), args.n, args.rounds) - baseline),
    ]
    queued = queue.spans
    encoder = OtlpEncoder()

    def encode() -> None:
        encoder.encode_batch(resource, None, [(s, render_span(span)) for s, span in queued])

    ours = per_call(encode, 20, args.rounds)
    rows.append(("encode per span, with its batch", ours / len(queued)))

    # The SDK way, for reference.
    batch = _sdk_spans(Keep())
    sdk = per_call(lambda: encode_spans(batch).SerializeToString(), 10, args.rounds) / len(batch)
    rows.append(("  SDK encoder per span, for reference", sdk))

    provider = TracerProvider(
        resource=Resource.create({"service.name": "plano"}),
        sampler=ParentBased(TraceIdRatioBased(1.0)),
    )
    provider.add_span_processor(BatchSpanProcessor(Keep(), max_queue_size=1 << 20))
    tracer = provider.get_tracer("plano")
    propagator = TraceContextTextMapPropagator()

    def sdk_request() -> None:
        r = record()
        parent = propagator.extract({"traceparent": TRACEPARENT})
        span = tracer.start_span(
            "POST /v1/chat/completions gpt-4o",
            context=parent,
            kind=SpanKind.SERVER,
            start_time=r.wall_start,
        )
        c = span.get_span_context()
        r.traceparent = f"00-{c.trace_id:032x}-{c.span_id:016x}-01"
        span.set_attributes(dict(batch[0].attributes or {}))
        span.end(end_time=r.wall_start + 42 * MS)

    rows.append(
        (
            "  SDK tracer begin+finish, for reference",
            per_call(sdk_request, args.n, args.rounds) - baseline,
        )
    )
    provider.shutdown()
    width = max(len(name) for name, _ in rows)
    for name, us in rows:
        print(f"{name:<{width}}  {us:7.2f} µs")
    total = rows[1][1] + ours / len(queued)
    print(f"{'total per sampled request (sending not included)':<{width}}  {total:7.2f} µs")


if __name__ == "__main__":
    main()
