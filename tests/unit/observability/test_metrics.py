"""Records in, samples out: the Prometheus sink, read back with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from plano.observability.metrics import (
    MAX_MODEL_SERIES,
    PrometheusMetrics,
    status_class,
    upstream_classes,
)
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry

MS = 1_000_000  # ns
T0 = 10_000 * MS


def record(
    *,
    listener: str = "llm",
    handler: str = "llm_chat",
    method: str = "POST",
    path: str = "/v1/chat/completions",
    **fields: Any,
) -> RequestRecord:
    r = RequestRecord(listener, "model", method, path)
    r.handler = handler
    r.start = T0
    for key, value in fields.items():
        setattr(r, key, value)
    return r


def upstream_call(
    *,
    status: int = 200,
    total_ms: int = 500,
    upstream_ms: tuple[int, int] = (10, 490),
    prompt: int | None = 11,
    completion: int | None = 7,
    **fields: Any,
) -> RequestRecord:
    """A whole (non-stream) response: upstream call from `upstream_ms[0]` to `[1]`."""
    base: dict[str, Any] = {
        "provider": "openai",
        "model": "openai/gpt-4o",
        "upstream_model": "gpt-4o",
        "status": status,
        "upstream_status": status,
        "upstream_sent": T0 + upstream_ms[0] * MS,
        "upstream_headers": T0 + upstream_ms[1] * MS,
        "upstream_done": T0 + upstream_ms[1] * MS,
        "end": T0 + total_ms * MS,
        "prompt_tokens": prompt,
        "completion_tokens": completion,
    }
    return record(**{**base, **fields})


def stream_call(completion: int = 11, **fields: Any) -> RequestRecord:
    """Upstream sent at 10 ms, first chunk 110 ms, done 610 ms; client's first chunk 112 ms."""
    base: dict[str, Any] = {
        "provider": "openai",
        "model": "openai/gpt-4o",
        "upstream_model": "gpt-4o",
        "stream": True,
        "status": 200,
        "upstream_status": 200,
        "upstream_sent": T0 + 10 * MS,
        "upstream_headers": T0 + 60 * MS,
        "upstream_first_chunk": T0 + 110 * MS,
        "downstream_first_chunk": T0 + 112 * MS,
        "upstream_done": T0 + 610 * MS,
        "end": T0 + 611 * MS,
        "prompt_tokens": 5,
        "completion_tokens": completion,
    }
    return record(**{**base, **fields})


def finish(m: PrometheusMetrics, *records: RequestRecord) -> None:
    for r in records:
        m.request_started(r)
        m.request_finished(r)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(m: PrometheusMetrics) -> Samples:
    m.flush()
    return parse_text(m.render()[0])


def parse_text(body: bytes) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(s: Samples, name: str, **labels: str) -> float | None:
    return s.get((name, frozenset(labels.items())))


HTTP = {"listener": "llm", "handler": "llm_chat"}
GPT = {"provider": "openai", "model": "gpt-4o"}


def test_whole_response_counts_latencies_tokens_and_overhead() -> None:
    m = PrometheusMetrics(version="9.9.9")
    finish(m, upstream_call(cached_tokens=3))
    s = samples(m)
    assert (
        value(
            s,
            "brightstaff_http_requests_total",
            **HTTP,
            method="POST",
            status_class="2xx",
        )
        == 1
    )
    assert value(s, "brightstaff_http_request_duration_seconds_count", **HTTP) == 1
    assert value(s, "brightstaff_http_request_duration_seconds_sum", **HTTP) == pytest.approx(0.5)
    assert (
        value(
            s,
            "brightstaff_llm_upstream_requests_total",
            **GPT,
            status_class="2xx",
            error_class="none",
        )
        == 1
    )
    assert value(s, "brightstaff_llm_upstream_duration_seconds_sum", **GPT) == pytest.approx(0.48)
    assert value(s, "brightstaff_llm_upstream_duration_seconds_bucket", **GPT, le="0.5") == 1
    assert value(s, "brightstaff_llm_upstream_duration_seconds_bucket", **GPT, le="0.25") == 0
    assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="prompt") == 11
    assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="completion") == 7
    assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="cache_read") == 3
    assert value(s, "brightstaff_llm_tokens_usage_missing_total", **GPT) == 0
    # 500 ms in total, 480 of them waiting on the upstream: the gateway added 20 ms.
    assert value(s, "plano_overhead_seconds_count", **HTTP) == 1
    assert value(s, "plano_overhead_seconds_sum", **HTTP) == pytest.approx(0.02)
    assert value(s, "plano_overhead_seconds_bucket", **HTTP, le="0.025") == 1
    assert value(s, "plano_overhead_seconds_bucket", **HTTP, le="0.01") == 0
    # Whole response: time per output token = upstream duration / output tokens.
    assert value(s, "plano_time_per_output_token_seconds_sum", **GPT) == pytest.approx(0.48 / 7)
    assert value(s, "brightstaff_llm_time_to_first_token_seconds_count", **GPT) == 0
    assert value(s, "plano_added_ttfc_seconds_count", **GPT) == 0
    assert value(s, "plano_build_info", version="9.9.9") == 1


def test_stream_has_ttft_added_ttfc_and_tpot_but_no_whole_response_overhead() -> None:
    m = PrometheusMetrics()
    finish(m, stream_call())
    s = samples(m)
    assert value(s, "brightstaff_llm_time_to_first_token_seconds_count", **GPT) == 1
    assert value(s, "brightstaff_llm_time_to_first_token_seconds_sum", **GPT) == pytest.approx(0.1)
    # The client got its first chunk 112 ms in; 100 of them were the upstream's: 12 ms added.
    assert value(s, "plano_added_ttfc_seconds_count", **GPT) == 1
    assert value(s, "plano_added_ttfc_seconds_sum", **GPT) == pytest.approx(0.012)
    # 500 ms after the first chunk for 10 more tokens.
    assert value(s, "plano_time_per_output_token_seconds_sum", **GPT) == pytest.approx(0.05)
    assert value(s, "brightstaff_llm_upstream_duration_seconds_sum", **GPT) == pytest.approx(0.6)
    assert value(s, "plano_overhead_seconds_count", **HTTP) == 0
    assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="completion") == 11


def test_stream_without_usage_counts_usage_missing_and_no_tpot() -> None:
    m = PrometheusMetrics()
    finish(m, stream_call(prompt_tokens=None, completion_tokens=None))
    s = samples(m)
    assert value(s, "brightstaff_llm_tokens_usage_missing_total", **GPT) == 1
    assert value(s, "plano_time_per_output_token_seconds_count", **GPT) == 0
    assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="prompt") == 0


def test_upstream_error_status_is_classed_by_status_and_counted_as_error_kind() -> None:
    m = PrometheusMetrics()
    finish(m, upstream_call(status=503, prompt=None, completion=None, error_kind="upstream_status"))
    s = samples(m)
    assert (
        value(
            s,
            "brightstaff_llm_upstream_requests_total",
            **GPT,
            status_class="5xx",
            error_class="none",
        )
        == 1
    )
    assert (
        value(s, "brightstaff_http_requests_total", **HTTP, method="POST", status_class="5xx") == 1
    )
    assert (
        value(
            s,
            "plano_request_errors_total",
            listener="llm",
            provider="openai",
            kind="upstream_status",
        )
        == 1
    )
    # Not a successful response: no usage is expected from it.
    assert value(s, "brightstaff_llm_tokens_usage_missing_total", **GPT) == 0


def test_connect_failure_has_error_status_class_and_its_error_class() -> None:
    m = PrometheusMetrics()
    r = upstream_call(status=502, prompt=None, completion=None, error_kind="connect")
    r.upstream_status = 0
    finish(m, r)
    s = samples(m)
    assert (
        value(
            s,
            "brightstaff_llm_upstream_requests_total",
            **GPT,
            status_class="error",
            error_class="connect",
        )
        == 1
    )
    assert (
        value(s, "plano_request_errors_total", listener="llm", provider="openai", kind="connect")
        == 1
    )


def test_request_without_upstream_call() -> None:
    m = PrometheusMetrics()
    r = record(handler="not_found", method="GET", path="/nope", status=404, error_kind="client")
    r.end = T0 + 2 * MS
    finish(m, r)
    s = samples(m)
    nf = {"listener": "llm", "handler": "not_found"}
    assert value(s, "brightstaff_http_requests_total", **nf, method="GET", status_class="4xx") == 1
    assert value(s, "plano_overhead_seconds_sum", **nf) == pytest.approx(0.002)
    assert (
        value(s, "plano_request_errors_total", listener="llm", provider="none", kind="client") == 1
    )
    assert not any(name.startswith("brightstaff_llm_upstream_requests") for name, _ in s)


def test_nothing_shows_before_a_flush_and_everything_after() -> None:
    m = PrometheusMetrics()
    finish(m, upstream_call())
    before = parse_text(m.render()[0])
    assert value(before, "brightstaff_http_requests_total", **HTTP, method="POST",
                 status_class="2xx") == 0  # fmt: skip
    m.flush()
    m.flush()  # a second flush adds nothing
    s = samples(m)
    assert (
        value(s, "brightstaff_http_requests_total", **HTTP, method="POST", status_class="2xx") == 1
    )
    assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="prompt") == 11


def test_with_workers_a_timer_flushes_and_close_flushes_the_rest(tmp_path: Path) -> None:
    async def run() -> PrometheusMetrics:
        loop = asyncio.get_running_loop()
        m = PrometheusMetrics(multiprocess_dir=str(tmp_path), flush_seconds=0.0)
        finish(m, upstream_call())
        assert m._timer is not None
        later = loop.create_future()
        loop.call_later(0.002, later.set_result, None)  # timers run in deadline order
        await later
        assert m._timer is None
        assert value(_in_memory_samples(m), "brightstaff_http_requests_total", **HTTP,
                     method="POST", status_class="2xx") == 1  # fmt: skip
        finish(m, upstream_call())
        m.close()
        assert m._timer is None
        return m

    m = asyncio.run(run())
    assert value(_in_memory_samples(m), "brightstaff_http_requests_total", **HTTP,
                 method="POST", status_class="2xx") == 2  # fmt: skip


def _in_memory_samples(m: PrometheusMetrics) -> Samples:
    """What `m` pushed into its metric objects (this test process is not in multiprocess mode,
    so they hold the values themselves)."""
    out: Samples = {}
    for metric in (m.families.http_requests,):
        for family in metric.collect():
            for s in family.samples:
                out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def test_in_flight_and_active_streams_gauges() -> None:
    m = PrometheusMetrics()
    r = stream_call()
    m.request_started(r)
    m.stream_started(r)
    s = samples(m)
    assert value(s, "brightstaff_http_in_flight_requests", **HTTP) == 1
    assert value(s, "plano_active_streams", **GPT) == 1
    m.request_finished(r)
    s = samples(m)
    assert value(s, "brightstaff_http_in_flight_requests", **HTTP) == 0
    assert value(s, "plano_active_streams", **GPT) == 0


def test_telemetry_passes_stream_start_and_finish_to_the_sink() -> None:
    m = PrometheusMetrics()
    telemetry = Telemetry(metrics=m)
    r = stream_call(end=0)
    telemetry.begin(r)
    telemetry.stream_started(r)
    assert value(samples(m), "plano_active_streams", **GPT) == 1
    telemetry.finish(r)
    assert r.end
    s = samples(m)
    assert value(s, "plano_active_streams", **GPT) == 0
    assert (
        value(s, "brightstaff_http_requests_total", **HTTP, method="POST", status_class="2xx") == 1
    )


def test_configured_models_exist_at_zero_and_later_feature_counters_count() -> None:
    m = PrometheusMetrics(models=[("openai", "gpt-4o"), ("anthropic", "claude-sonnet-4")])
    claude = {"provider": "anthropic", "model": "claude-sonnet-4"}
    s = samples(m)
    for name in (
        "plano_upstream_retries_total",
        "plano_upstream_ejections_total",
        "plano_ratelimited_requests_total",
        "brightstaff_llm_tokens_usage_missing_total",
    ):
        assert value(s, name, **claude) == 0
    assert value(s, "brightstaff_llm_tokens_total", **claude, kind="prompt") == 0
    m.retry("openai", "gpt-4o")
    m.retry("openai", "gpt-4o")
    m.ejection("anthropic", "claude-sonnet-4")
    m.ratelimited("openai", "gpt-4o")
    s = samples(m)
    assert value(s, "plano_upstream_retries_total", **GPT) == 2
    assert value(s, "plano_upstream_ejections_total", **claude) == 1
    assert value(s, "plano_ratelimited_requests_total", **GPT) == 1


def test_client_chosen_model_names_are_capped() -> None:
    m = PrometheusMetrics()
    for i in range(MAX_MODEL_SERIES + 5):
        finish(m, upstream_call(upstream_model=f"m{i}", model=f"openai/m{i}"))
    s = samples(m)
    models = {
        dict(labels)["model"]
        for name, labels in s
        if name == "brightstaff_llm_upstream_requests_total"
    }
    assert len(models) == MAX_MODEL_SERIES + 1
    other = {"provider": "openai", "model": "other"}
    assert (
        value(
            s,
            "brightstaff_llm_upstream_requests_total",
            **other,
            status_class="2xx",
            error_class="none",
        )
        == 5
    )


def test_unknown_methods_and_missing_status() -> None:
    m = PrometheusMetrics()
    finish(m, record(method="BREW", status=405), record(method="BREW", status=0))
    s = samples(m)
    assert (
        value(s, "brightstaff_http_requests_total", **HTTP, method="other", status_class="4xx") == 1
    )
    assert (
        value(s, "brightstaff_http_requests_total", **HTTP, method="other", status_class="other")
        == 1
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (0, "other"),
        (101, "1xx"),
        (200, "2xx"),
        (304, "3xx"),
        (404, "4xx"),
        (599, "5xx"),
        (600, "other"),
    ],
)
def test_status_class(status: int, expected: str) -> None:
    assert status_class(status) == expected


@pytest.mark.parametrize(
    ("status", "kind", "expected"),
    [
        (200, None, ("2xx", "none")),
        (200, "stream", ("2xx", "stream")),
        (200, "client_gone", ("2xx", "none")),
        (429, "upstream_status", ("4xx", "none")),
        (0, "timeout", ("error", "timeout")),
        (0, "connect", ("error", "connect")),
        (0, "client_gone", ("error", "other")),
        (0, None, ("error", "other")),
    ],
)
def test_upstream_classes(status: int, kind: str | None, expected: tuple[str, str]) -> None:
    assert upstream_classes(status, kind) == expected
