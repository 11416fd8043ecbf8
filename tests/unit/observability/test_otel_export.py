"""Which OTLP protocol and endpoint tracing exports to."""

from __future__ import annotations

import logging

import pytest

from plano.config.sections import TracingConfig
from plano.observability.otel_export import (
    GrpcSender,
    HttpSender,
    resolve_endpoint,
)
from plano.observability.tracing import build_tracing

HTTP = "http/protobuf"


@pytest.mark.parametrize(
    ("env", "configured", "expected"),
    [
        ({}, None, ("grpc", "http://localhost:4317")),
        ({}, "http://c:4317", ("grpc", "http://c:4317")),
        ({}, "https://c", ("grpc", "https://c")),
        ({}, "http://c:4318", (HTTP, "http://c:4318/v1/traces")),
        ({}, "http://c:4318/", (HTTP, "http://c:4318/v1/traces")),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": HTTP}, None, (HTTP, "http://localhost:4318/v1/traces")),
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": HTTP}, "http://c:4317", (HTTP, "http://c:4317/v1/traces")),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": HTTP, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
            "http://c:4318",
            ("grpc", "http://c:4318"),
        ),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://e:4317"}, None, ("grpc", "http://e:4317")),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://e:4318"}, None, (HTTP, "http://e:4318/v1/traces")),
        (
            {
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://e:1/p",
                "OTEL_EXPORTER_OTLP_PROTOCOL": HTTP,
            },
            None,
            (HTTP, "http://e:1/p"),
        ),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://e:4317"},
            "http://c:4317",
            ("grpc", "http://c:4317"),
        ),
    ],
)
def test_resolve_endpoint(
    env: dict[str, str], configured: str | None, expected: tuple[str, str]
) -> None:
    assert resolve_endpoint(env, configured) == expected


def test_unsupported_protocol_falls_back_to_http_protobuf(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "plano.tracing"):
        assert resolve_endpoint({"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, None)[0] == HTTP
    assert "http/json" in caplog.text


@pytest.mark.parametrize(
    ("settings", "env", "kind"),
    [
        ({"random_sampling": 100}, {}, GrpcSender),
        (
            {"random_sampling": 5, "opentracing_grpc_endpoint": "http://c:4318"},
            {},
            HttpSender,
        ),
        # The config's default endpoint is not "given": the standard variables decide.
        (
            {"random_sampling": 100},
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://e:4318"},
            HttpSender,
        ),
    ],
)
def test_build_tracing_picks_the_exporter(
    settings: dict[str, object], env: dict[str, str], kind: type
) -> None:
    tracing = build_tracing(TracingConfig.model_validate(settings), env)
    assert tracing is not None
    try:
        assert type(tracing._sender) is kind
    finally:
        assert tracing.shutdown(timeout=5)


def test_repeat_throttle_holds_back_repeats_and_counts_them() -> None:
    import logging

    from plano.observability.otel_export import RepeatThrottle

    now = [100.0]
    throttle = RepeatThrottle(window=60.0, clock=lambda: now[0])

    def record(msg: str, level: int = logging.WARNING) -> logging.LogRecord:
        return logging.LogRecord("x", level, __file__, 1, msg, ("a",), None)

    first = record("Transient error %s")
    assert throttle.filter(first)
    assert first.getMessage() == "Transient error a"
    assert not throttle.filter(record("Transient error %s"))
    assert not throttle.filter(record("Transient error %s"))
    assert throttle.filter(record("Failed to export %s", logging.ERROR))  # another template
    now[0] += 61
    again = record("Transient error %s")
    assert throttle.filter(again)
    assert again.getMessage() == "Transient error a (2 similar messages in the last 60 s)"
    assert not throttle.filter(record("Transient error %s"))


@pytest.mark.parametrize(
    ("endpoint", "env", "delay"),
    [
        ("http://127.0.0.1:4317", {}, 0.5),
        ("http://localhost:4318", {}, 0.5),
        ("http://[::1]:4317", {}, 0.5),
        ("http://collector.internal:4317", {}, 5.0),
        ("http://127.0.0.1:4317", {"OTEL_BSP_SCHEDULE_DELAY": "2000"}, 2.0),
    ],
)
def test_a_local_receiver_gets_spans_within_half_a_second(
    endpoint: str, env: dict[str, str], delay: float
) -> None:
    """`plano trace` / `plano obs` on this machine: the batch waits 0.5 s, not 5 s, unless
    OTEL_BSP_SCHEDULE_DELAY says otherwise."""
    settings = {"random_sampling": 100, "opentracing_grpc_endpoint": endpoint}
    tracing = build_tracing(TracingConfig.model_validate(settings), env)
    assert tracing is not None
    try:
        assert tracing._batcher._delay == delay
    finally:
        assert tracing.shutdown(timeout=5)
