"""The PostHog exporter against a fake PostHog capture API on loopback."""

from __future__ import annotations

import logging
import re
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from plano.config.sections import PosthogExporterConfig, TracingConfig
from plano.observability import posthog
from plano.observability.metrics import PrometheusMetrics
from plano.observability.otel_spans import OtelTracing
from plano.observability.posthog import (
    Destination,
    PosthogExporter,
    build_posthog,
    captures_messages,
)
from plano.observability.posthog_events import input_messages
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from tests.posthog_fake import FakePosthog, fake_posthog

KEY = "phc_secret_project_key_123"
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
OURS = f"00-{CLIENT_TRACE}-b7ad6b7169203331-01"
MS = 1_000_000


class Spans:
    def add(self, service: str | None, span: bytes) -> None:
        pass


@pytest.fixture
def fake() -> Iterator[FakePosthog]:
    with fake_posthog() as f:
        yield f


def dest(fake: FakePosthog, header: str | None = "x-user-id", capture: bool = False) -> Destination:
    return Destination(fake.url, KEY, header, capture)


def exporter(*dests: Destination, **kw: Any) -> PosthogExporter:
    kw.setdefault("flush_seconds", 60.0)  # only batch size or close() sends
    kw.setdefault("backoff", 0.01)
    return PosthogExporter(dests, **kw)


def llm_record(
    traceparent: str | None = OURS,
    headers: list[tuple[bytes, bytes]] | None = None,
    **fields: Any,
) -> RequestRecord:
    r = RequestRecord("llm", "model", "POST", fields.pop("path", "/v1/chat/completions"))
    r.handler = "llm_chat"
    r.traceparent = traceparent
    r.model = "openai/gpt-4o"
    r.upstream_model = "gpt-4o"
    r.provider = "openai"
    r.status = r.upstream_status = 200
    r.prompt_tokens, r.completion_tokens = 12, 34
    r.end = r.start + 1500 * MS
    r.request_headers = headers or []
    for name, value in fields.items():
        setattr(r, name, value)
    return r


def test_one_event_per_sampled_llm_request(fake: FakePosthog) -> None:
    e = exporter(dest(fake))
    headers = [(b"traceparent", f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01".encode())]
    r = llm_record(headers=[*headers, (b"x-user-id", b"user-42")])
    e.write(r)
    e.close()
    (post,) = fake.posts
    assert post.path == "/batch/"
    assert post.content_type == "application/json"
    assert set(post.body) == {"api_key", "batch"}
    assert post.body["api_key"] == KEY
    (event,) = post.body["batch"]
    assert set(event) == {"event", "distinct_id", "timestamp", "uuid", "properties"}
    assert event["event"] == "$ai_generation"
    assert event["distinct_id"] == "user-42"
    assert uuid.UUID(event["uuid"]).version == 4
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["timestamp"])
    stamp = datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs(stamp.timestamp() - (r.wall_start / 1e9 + 1.5)) < 0.002
    assert event["properties"] == {
        "$ai_trace_id": CLIENT_TRACE,
        "$ai_span_id": "b7ad6b7169203331",
        "$ai_parent_id": CLIENT_SPAN,
        "$ai_model": "gpt-4o",
        "$ai_provider": "openai",
        "$ai_latency": 1.5,
        "$ai_stream": False,
        "$ai_http_status": 200,
        "$ai_is_error": False,
        "$ai_input_tokens": 12,
        "$ai_output_tokens": 34,
    }
    assert (e.sent, e.failed, e.dropped) == (1, 0, 0)


def test_without_the_header_the_event_is_anonymous_under_the_trace_id(fake: FakePosthog) -> None:
    e = exporter(dest(fake), dest(fake, header=None))
    e.write(llm_record(traceparent=f"00-{'ab' * 16}-{'cd' * 8}-01"))
    e.close()
    first, second = (p.body["batch"][0] for p in fake.posts)
    for event in (first, second):
        assert event["distinct_id"] == "ab" * 16
        assert event["properties"]["$process_person_profile"] is False
        assert "$ai_parent_id" not in event["properties"]  # the gateway started the trace


def test_a_stream_has_time_to_first_token_and_an_error_its_kind(fake: FakePosthog) -> None:
    e = exporter(dest(fake))
    stream = llm_record(stream=True)
    stream.downstream_first_chunk = stream.start + 250 * MS
    failed = llm_record(
        status=502, upstream_status=503, error_kind="upstream_status", prompt_tokens=None
    )
    failed.completion_tokens = None
    gone = llm_record(status=0, upstream_status=200, error_kind="client_gone")
    for r in (stream, failed, gone):
        e.write(r)
    e.close()
    s, f, g = (ev["properties"] for ev in fake.events())
    assert s["$ai_stream"] is True
    assert s["$ai_time_to_first_token"] == 0.25
    assert "$ai_time_to_first_token" not in f
    assert (f["$ai_http_status"], f["$ai_is_error"]) == (502, True)
    assert f["$ai_error"] == "upstream_status"
    assert "$ai_input_tokens" not in f and "$ai_output_tokens" not in f
    # The client left: not an error of the generation; the status is the upstream's.
    assert (g["$ai_http_status"], g["$ai_is_error"]) == (200, False)
    assert "$ai_error" not in g


@pytest.mark.parametrize(
    "change",
    [
        {"traceparent": f"00-{CLIENT_TRACE}-b7ad6b7169203331-00"},  # not sampled
        {"traceparent": None},  # tracing off
        {"model": None},  # no model resolved (a bad request)
        {"handler": "routing_decision"},  # not an LLM call
        {"path": "/v1/messages/count_tokens"},  # not a generation
    ],
)
def test_only_sampled_llm_generations_are_sent(fake: FakePosthog, change: dict[str, Any]) -> None:
    e = exporter(dest(fake))
    e.write(llm_record(**change))
    e.write(llm_record())
    e.close()
    assert len(fake.events()) == 1


def test_the_tracing_sink_decides_what_is_sampled(fake: FakePosthog) -> None:
    """Through `Telemetry`, as the gateway runs it: the span ids and the sampling decision are
    the trace sink's."""
    e = exporter(dest(fake))
    telemetry = Telemetry(tracing=OtelTracing(Spans()), records=[e])
    sent_ids = []
    for flags in ("01", "00"):
        client = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-{flags}"
        r = llm_record(traceparent=None, headers=[(b"traceparent", client.encode())])
        telemetry.begin(r, client, None)
        assert r.traceparent is not None
        sent_ids.append(r.traceparent.split("-")[2])
        telemetry.finish(r)
    telemetry.close()
    (event,) = fake.events()
    assert event["properties"]["$ai_span_id"] == sent_ids[0]
    assert event["properties"]["$ai_parent_id"] == CLIENT_SPAN


CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
ANTHROPIC = {"model": "m", "system": "be brief", "messages": [{"role": "user", "content": "x"}]}
RESPONSES = {"model": "m", "instructions": "be nice", "input": "hello"}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (CHAT, [{"role": "user", "content": "hi"}]),
        (
            ANTHROPIC,
            [{"role": "system", "content": "be brief"}, {"role": "user", "content": "x"}],
        ),
        (
            RESPONSES,
            [{"role": "system", "content": "be nice"}, {"role": "user", "content": "hello"}],
        ),
        ({"input": [{"role": "user", "content": [{"type": "input_text", "text": "a"}]}]}, None),
        ({"model": "m"}, None),
        ([1, 2], None),
    ],
)
def test_input_messages(doc: Any, expected: list[Any] | None) -> None:
    if isinstance(doc, dict) and isinstance(doc.get("input"), list):
        expected = doc["input"]  # a list of input items is kept as given
    assert input_messages(orjson.dumps(doc)) == expected
    assert input_messages(b"{not json") is None


def test_capture_messages_per_destination(fake: FakePosthog) -> None:
    on = Destination(fake.url + "/on", KEY, None, True)
    off = Destination(fake.url + "/off", KEY, None, False)
    e = exporter(on, off)
    e.write(llm_record(request_body=orjson.dumps(CHAT)))
    big = {"messages": [{"role": "user", "content": "x" * posthog.MAX_INPUT_BYTES}]}
    e.write(llm_record(request_body=orjson.dumps(big)))
    e.write(llm_record())  # the body was not kept
    e.close()
    captured = [ev["properties"].get("$ai_input") for ev in fake.events("/on/batch/")]
    assert captured == [CHAT["messages"], None, None]
    assert all("$ai_input" not in ev["properties"] for ev in fake.events("/off/batch/"))


def test_without_capture_bodies_are_not_kept(fake: FakePosthog) -> None:
    e = exporter(dest(fake))
    e.write(llm_record(request_body=orjson.dumps(CHAT)))
    assert e._input_added == 0
    e.close()
    assert "$ai_input" not in fake.events()[0]["properties"]


def test_a_full_batch_is_sent_without_waiting_for_the_timer(fake: FakePosthog) -> None:
    e = exporter(dest(fake), max_batch=3)
    for _ in range(3):
        e.write(llm_record())
    fake.wait_for(3)  # a full batch; the timer is a minute away
    for _ in range(4):
        e.write(llm_record())
    fake.wait_for(6)
    assert [len(p.body["batch"]) for p in fake.posts] == [3, 3]
    e.close()
    assert [len(p.body["batch"]) for p in fake.posts] == [3, 3, 1]
    assert len({ev["uuid"] for ev in fake.events()}) == 7


def test_the_timer_sends_what_is_queued(fake: FakePosthog) -> None:
    e = exporter(dest(fake), flush_seconds=0.05)
    e.write(llm_record())
    fake.wait_for(1)
    e.close()


def test_a_full_queue_drops_and_counts(fake: FakePosthog) -> None:
    metrics = PrometheusMetrics()
    e = exporter(dest(fake), max_queue=3, counter=metrics.posthog_events)
    for _ in range(5):
        e.write(llm_record())
    e.close()
    e.write(llm_record())  # after close: dropped too
    assert (len(fake.events()), e.sent, e.dropped) == (3, 3, 3)
    registry = metrics.registry
    assert registry.get_sample_value("plano_posthog_events_total", {"outcome": "sent"}) == 3
    assert registry.get_sample_value("plano_posthog_events_total", {"outcome": "dropped"}) == 2


def test_transient_failures_are_retried(
    fake: FakePosthog, caplog: pytest.LogCaptureFixture
) -> None:
    fake.statuses = [503, 429]
    e = exporter(dest(fake), max_batch=1)
    e.write(llm_record())
    fake.wait_for(1)
    e.close()
    assert fake.attempts == 3
    assert len(fake.events()) == 1
    assert (e.sent, e.failed) == (1, 0)
    assert not caplog.records


def test_a_refused_batch_is_not_retried_and_logged_once_a_minute(
    fake: FakePosthog, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = PrometheusMetrics()
    fake.statuses = [401, 400, 500, 500, 500]
    e = exporter(dest(fake), max_batch=1, counter=metrics.posthog_events)
    caplog.set_level(logging.DEBUG)
    e.write(llm_record())
    fake.wait_for_attempts(1)
    e.write(llm_record())
    fake.wait_for_attempts(2)
    e.write(llm_record())  # 500: retried twice, then given up
    fake.wait_for_attempts(5)
    e.close()
    assert (e.sent, e.failed) == (0, 3)
    assert fake.attempts == 5
    warnings = [r.getMessage() for r in caplog.records if r.name == "plano.posthog"]
    assert warnings == [f"PostHog export to {fake.url}/batch/ failed (HTTP 401): 1 event lost"]
    assert KEY not in caplog.text
    failed = metrics.registry.get_sample_value("plano_posthog_events_total", {"outcome": "failed"})
    assert failed == 3


def test_an_unreachable_posthog_fails_fast_without_the_key_in_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        e = exporter(Destination(f"http://127.0.0.1:{s.getsockname()[1]}", KEY, None, False))
        e.write(llm_record())
        e.close()
    assert (e.sent, e.failed) == (0, 1)
    (warning,) = [r.getMessage() for r in caplog.records if r.name == "plano.posthog"]
    assert "Connection refused" in warning
    assert KEY not in caplog.text
    assert KEY not in repr(e.destinations)


def test_the_logged_place_has_no_credentials_or_query() -> None:
    d = Destination("https://user:pw@ph.example:8443/prefix?token=t", KEY, None, False)
    assert d.url == "https://user:pw@ph.example:8443/prefix/batch/?token=t"
    assert d.where == "https://ph.example:8443"


def test_close_is_bounded_when_posthog_hangs() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()  # accepts into the backlog, never answers
        e = exporter(Destination(f"http://127.0.0.1:{s.getsockname()[1]}", KEY, None, False))
        e.write(llm_record())
        started = time.monotonic()
        e.close(timeout=0.2)
        assert time.monotonic() - started < 5
        e.close()  # idempotent
    assert e.sent == 0


def config(**kw: Any) -> TracingConfig:
    exporters = [
        PosthogExporterConfig.model_validate(
            {"type": "posthog", "url": "https://us.i.posthog.com", "api_key": KEY, **kw}
        )
    ]
    return TracingConfig(random_sampling=100, exporters=tuple(exporters))


def test_built_only_when_tracing_is_on_and_an_exporter_is_configured() -> None:
    assert build_posthog(None, {}) is None
    assert build_posthog(TracingConfig(random_sampling=100), {}) is None
    off = config().model_copy(update={"random_sampling": 0})
    assert build_posthog(off, {}) is None
    assert build_posthog(config(), {"OTEL_SDK_DISABLED": "true"}) is None
    on = build_posthog(config(), {})
    assert on is not None
    try:
        (d,) = on.destinations
        assert d.url == "https://us.i.posthog.com/batch/"
        assert d.header is None and not d.capture
    finally:
        on.close()
    assert not captures_messages(config(), {})
    assert captures_messages(config(capture_messages=True), {})
    assert not captures_messages(config(capture_messages=True), {"OTEL_SDK_DISABLED": "TRUE"})
