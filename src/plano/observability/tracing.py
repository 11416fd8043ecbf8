"""Tracing: `build_tracing(config.tracing)` makes the worker's `TraceSink`, or None when off.

Tracing is on when the config has a `tracing` section with `random_sampling > 0` (as in the
original) and `OTEL_SDK_DISABLED` is not `true`. At 0 % nothing is built, so it costs nothing:
the gateway then forwards the client's own `traceparent` / `tracestate` upstream unchanged.

When on: one SERVER span per request (`otel_spans.OtelTracing`), sampled like the SDK's
`ParentBased(TraceIdRatioBased(random_sampling / 100))`, resource `service.name` = `plano` (or
`OTEL_SERVICE_NAME`, plus `OTEL_RESOURCE_ATTRIBUTES`), encoded as it finishes, batched off the
request path (`span_batch`, `OTEL_BSP_*`) and sent by the SDK's OTLP exporter (`otel_export`).
A batch waits up to 5 s, or 0.5 s when the endpoint is a loopback address (`is_local`).
The OpenTelemetry SDK is imported only here, and only when tracing is on.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from plano.observability import names as n

if TYPE_CHECKING:
    from plano.observability.otel_export import SpanSender
    from plano.observability.otel_spans import OtelTracing
    from plano.observability.span_batch import SpanBatcher

SHUTDOWN_SECONDS = 5.0


class SpanAttributesSettings(Protocol):
    @property
    def header_prefixes(self) -> Sequence[str]: ...

    @property
    def static(self) -> Mapping[str, str]: ...


class TracingSettings(Protocol):
    """What tracing reads from the config's `tracing` section (`plano.config.TracingConfig`)."""

    @property
    def random_sampling(self) -> int: ...

    @property
    def opentracing_grpc_endpoint(self) -> str: ...

    @property
    def span_attributes(self) -> SpanAttributesSettings: ...

    @property
    def span_names(self) -> str: ...  # plano | genai

    @property
    def model_fields_set(self) -> set[str]: ...


def build_tracing(
    settings: TracingSettings | None,
    env: Mapping[str, str] | None = None,
    *,
    sender: SpanSender | None = None,
) -> Tracing | None:
    """The worker's trace sink, or None when tracing is off.

    `env` (default: the process environment) decides on/off, the service name, the OTLP protocol
    and endpoint, and the batch sizes (`OTEL_BSP_*`); the SDK's exporter reads its other
    `OTEL_EXPORTER_OTLP_*` settings (headers, timeout, compression, certificates) from the
    process environment. `sender` replaces the OTLP exporter (tests).
    """
    env = os.environ if env is None else env
    if settings is None or settings.random_sampling <= 0:
        return None
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return None

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from plano import __version__
    from plano.observability.otel_export import build_sender, resolve_endpoint
    from plano.observability.otel_spans import OtelTracing
    from plano.observability.span_batch import DEFAULT_DELAY_MS, LOCAL_DELAY_MS, SpanBatcher
    from plano.observability.span_render import render_span

    explicit = "opentracing_grpc_endpoint" in settings.model_fields_set
    protocol, endpoint = resolve_endpoint(
        env, settings.opentracing_grpc_endpoint if explicit else None
    )
    if sender is None:
        sender = build_sender(protocol, endpoint)
    service = env.get("OTEL_SERVICE_NAME", "").strip() or n.SERVICE_NAME
    resource = Resource.create({"service.name": service})
    batcher = SpanBatcher.from_env(
        sender.send,
        resource,
        InstrumentationScope("plano", __version__),
        env,
        render_span,
        default_delay_ms=LOCAL_DELAY_MS if is_local(endpoint) else DEFAULT_DELAY_MS,
    )
    sink = OtelTracing(
        batcher,
        sampling_percent=settings.random_sampling,
        header_prefixes=settings.span_attributes.header_prefixes,
        static=settings.span_attributes.static,
        genai_names=settings.span_names == "genai",
    )
    return Tracing(sink, batcher, sender)


def is_local(endpoint: str) -> bool:
    """Whether an OTLP endpoint is on this machine (loopback), where a short batch delay costs
    nothing and a developer waiting for `plano trace` / `plano obs` sees spans sooner."""
    from urllib.parse import urlsplit

    try:
        host = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}").hostname or ""
    except ValueError:
        return False
    return host in {"localhost", "::1"} or host.startswith("127.")


class Tracing:
    """The sink plus its export pipeline. Implements `TraceSink` by delegation (bound methods,
    so a call costs what a direct call to `OtelTracing` costs)."""

    def __init__(self, sink: OtelTracing, batcher: SpanBatcher, sender: SpanSender) -> None:
        self.sink = sink
        self._batcher = batcher
        self._sender = sender
        self.begin = sink.begin
        self.finish = sink.finish
        self.start_child = sink.start_child
        self.child_span = sink.child_span

    def force_flush(self) -> None:
        """Export everything queued now (tests)."""
        self._batcher.force_flush()

    def close(self) -> None:
        """`Telemetry.close()` at worker shutdown: `shutdown()` with the default bound."""
        self.shutdown()

    def shutdown(self, timeout: float = SHUTDOWN_SECONDS) -> bool:
        """Export what is queued and stop, within about `timeout` seconds (blocking: call it
        from the worker's shutdown, in a thread if the event loop must stay responsive).

        An unreachable collector would otherwise hold shutdown for the exporter's whole retry
        budget (10 s); past `timeout` the exporter is shut down, which aborts its retries and
        drops what it could not send. Returns whether everything was exported in time."""
        done: list[bool] = []
        worker = threading.Thread(
            target=lambda: done.append(self._batcher.shutdown(timeout)),
            name="plano-trace-shutdown",
            daemon=True,
        )
        worker.start()
        worker.join(timeout)
        in_time = not worker.is_alive()
        self._sender.shutdown()
        worker.join(1.0)
        return in_time and done == [True]
