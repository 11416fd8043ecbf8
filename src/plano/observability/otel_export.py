"""Where spans go: the SDK's OTLP exporters (gRPC or HTTP/protobuf) behind its batch processor.

The senders are the SDK's OTLP exporters, with their retries, TLS, headers, compression and
`OTEL_EXPORTER_OTLP_*` settings, given requests already encoded by `OtlpEncoder` (the SDK's own
encoder costs ~50 µs per span). Which protocol and endpoint:

- protocol: `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL` or `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`,
  `http/protobuf`); without them, `http/protobuf` when the endpoint's port is 4318 (the OTLP/HTTP
  port), else `grpc`;
- endpoint: `tracing.opentracing_grpc_endpoint` when the config (or `OTEL_TRACING_GRPC_ENDPOINT`)
  gives one; else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` / `OTEL_EXPORTER_OTLP_ENDPOINT`; else
  `http://localhost:4317` (gRPC) or `http://localhost:4318/v1/traces` (HTTP). For HTTP, an
  endpoint without a path gets `/v1/traces`.
"""

from __future__ import annotations

import logging
import threading
import time
import typing
from collections.abc import Mapping
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as _GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as _HttpExporter,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.sdk.trace.export import SpanExportResult

log = logging.getLogger("plano.tracing")

OtlpProtocol = Literal["grpc", "http/protobuf"]
DEFAULT_GRPC_ENDPOINT: Final = "http://localhost:4317"
DEFAULT_HTTP_ENDPOINT: Final = "http://localhost:4318/v1/traces"
HTTP_PORT: Final = 4318
TRACES_PATH: Final = "/v1/traces"


# The SDK exporters' loggers: they warn on every failed or retried export, which with no collector
# running means a line every few seconds for as long as the gateway runs.
_EXPORTER_LOGGERS: Final = (
    "opentelemetry.exporter.otlp.proto.grpc.exporter",
    "opentelemetry.exporter.otlp.proto.http.trace_exporter",
)
REPEAT_WINDOW_S: Final = 60.0


class RepeatThrottle(logging.Filter):
    """Lets a log message through once per `window` seconds per (level, template); the next one
    that passes says how many were held back. Messages are not lost silently: the count is."""

    def __init__(self, window: float = REPEAT_WINDOW_S, clock: Any = time.monotonic) -> None:
        super().__init__()
        self._window = window
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: dict[tuple[int, str], list[float]] = {}  # key -> [last passed, held back]

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.levelno, str(record.msg))
        now = self._clock()
        with self._lock:
            entry = self._seen.get(key)
            if entry is not None and now - entry[0] < self._window:
                entry[1] += 1
                return False
            held = int(entry[1]) if entry is not None else 0
            self._seen[key] = [now, 0]
        if held:
            record.msg = f"{record.msg} ({held} similar messages in the last {self._window:.0f} s)"
        return True


_THROTTLE: Final = RepeatThrottle()


def throttle_exporter_logs() -> None:
    """Install the repeat throttle on the SDK exporters' loggers (idempotent)."""
    for name in _EXPORTER_LOGGERS:
        logger = logging.getLogger(name)
        if _THROTTLE not in logger.filters:
            logger.addFilter(_THROTTLE)


class _RawTraceStub:
    """`TraceServiceStub` sending a request already serialized (bytes) as it is."""

    def __init__(self, channel: Any) -> None:
        self.Export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=ExportTraceServiceResponse.FromString,
        )


class GrpcSender(_GrpcExporter):
    """The SDK's OTLP/gRPC exporter (endpoint, TLS, headers, compression, retries and their
    `OTEL_EXPORTER_OTLP_*` settings) sending requests we encoded ourselves."""

    def __init__(self, endpoint: str | None = None) -> None:
        super().__init__(endpoint=endpoint)
        self._stub = _RawTraceStub  # also used when the exporter reconnects
        self._client = _RawTraceStub(self._channel)  # type: ignore[assignment]

    def _translate_data(self, data: Any) -> Any:
        return data  # already an encoded ExportTraceServiceRequest

    def _count_data(self, data: Any) -> int:
        return 1

    def send(self, request: bytes) -> bool:
        return self._export(request) is SpanExportResult.SUCCESS  # type: ignore[arg-type]

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: object) -> None:
        """Idempotent and quiet; aborts an export that is waiting to retry."""
        if not self._shutdown:
            super().shutdown(timeout_millis=timeout_millis)


class HttpSender(_HttpExporter):
    """The SDK's OTLP/HTTP (protobuf) exporter sending requests we encoded ourselves."""

    def __init__(self, endpoint: str | None = None) -> None:
        super().__init__(endpoint=endpoint)

    def send(self, request: bytes) -> bool:
        if self._shutdown:
            return False
        return bool(self._client.export(request).success)

    def shutdown(self) -> None:
        """Idempotent and quiet; aborts an export that is waiting to retry."""
        if not self._shutdown:
            super().shutdown()  # type: ignore[no-untyped-call]


class SpanSender(typing.Protocol):
    def send(self, request: bytes) -> bool: ...

    def shutdown(self) -> None: ...


def resolve_protocol(env: Mapping[str, str], endpoint: str | None) -> OtlpProtocol:
    raw = (
        (
            env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
            or ""
        )
        .strip()
        .lower()
    )
    if raw == "grpc":
        return "grpc"
    if raw in ("http/protobuf", "http"):
        return "http/protobuf"
    if raw:
        log.warning("OTLP protocol %r is not supported; using http/protobuf", raw)
        return "http/protobuf"
    try:
        port = urlsplit(endpoint).port if endpoint else None
    except ValueError:
        port = None
    return "http/protobuf" if port == HTTP_PORT else "grpc"


def resolve_endpoint(env: Mapping[str, str], configured: str | None) -> tuple[OtlpProtocol, str]:
    """(protocol, endpoint URL) from the config's explicit endpoint (or None) and the env."""
    traces_env = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    base_env = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    protocol = resolve_protocol(env, configured or traces_env or base_env or None)
    if protocol == "grpc":
        return protocol, configured or traces_env or base_env or DEFAULT_GRPC_ENDPOINT
    if configured or (base_env and not traces_env):
        base = (configured or base_env).rstrip("/")
        path = urlsplit(base).path
        return protocol, base if path.endswith(TRACES_PATH) else base + TRACES_PATH
    return protocol, traces_env or DEFAULT_HTTP_ENDPOINT


def build_sender(protocol: OtlpProtocol, endpoint: str) -> SpanSender:
    throttle_exporter_logs()
    if protocol == "grpc":
        return GrpcSender(endpoint)
    return HttpSender(endpoint)
