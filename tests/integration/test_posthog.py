"""PostHog end to end: the OpenAI SDK -> gateway -> fake upstream, `$ai_generation` events
POSTed to a fake PostHog capture API, spans to an in-process OTLP receiver."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from plano.tracecollector.server import Collector
from plano.tracecollector.store import TraceQuery
from tests.conftest import GatewayFactory
from tests.posthog_fake import FakePosthog, fake_posthog

pytestmark = pytest.mark.integration

KEY_ONE = "phc_first_project_secret"
KEY_TWO = "phc_second_project_secret"
UPSTREAM_KEY = "sk-upstream-secret"
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
UNSAMPLED_TRACE = "0123456789abcdef0123456789abcdef"
MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "hello there"},
]


@pytest.fixture
def fake() -> Iterator[FakePosthog]:
    with fake_posthog() as f:
        yield f


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector("127.0.0.1", 0, 0) as c:
        yield c


def config(upstream: Any, fake: FakePosthog, collector: Collector) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 5s}}
model_providers:
  - model: openai/gpt-4o
    access_key: {UPSTREAM_KEY}
    base_url: {upstream.base_url}
    default: true
tracing:
  random_sampling: 100
  opentracing_grpc_endpoint: http://127.0.0.1:{collector.grpc_port}
  exporters:
    - type: posthog
      url: {fake.url}/one
      api_key: {KEY_ONE}
      distinct_id_header: x-user-id
      capture_messages: true
    - {{type: posthog, url: "{fake.url}/two", api_key: {KEY_TWO}}}
"""


def client(gw: Any, **headers: str) -> openai.OpenAI:
    return openai.OpenAI(
        base_url=f"{gw.url()}/v1", api_key="k", max_retries=0, default_headers=headers
    )


def by_trace(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {e["properties"]["$ai_trace_id"]: e for e in events}


def test_generations_reach_posthog(
    upstream: Any,
    gateway: GatewayFactory,
    fake: FakePosthog,
    collector: Collector,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    sampled = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
    with gateway(config(upstream, fake, collector)) as gw:
        with client(gw, **{"x-user-id": "user-7", "traceparent": sampled}) as c:
            answer = c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
        with client(gw) as c:
            chunks = list(
                c.chat.completions.create(
                    model="gpt-4o",
                    messages=[{"role": "user", "content": "stream it"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
        with client(gw, traceparent=f"00-{UNSAMPLED_TRACE}-{CLIENT_SPAN}-00") as c:
            c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        sent = upstream.wait_for_requests(3)
    # The gateway has shut down: its exporter sent what was queued on the way out.
    one = by_trace(fake.wait_for(2, "/one/batch/"))
    two = by_trace(fake.wait_for(2, "/two/batch/"))
    assert len(fake.events()) == 4  # the unsampled request made no event
    assert UNSAMPLED_TRACE not in one
    assert {p.body["api_key"] for p in fake.posts if p.path == "/one/batch/"} == {KEY_ONE}
    assert {p.body["api_key"] for p in fake.posts if p.path == "/two/batch/"} == {KEY_TWO}

    # The client's trace: the gateway's span is the generation, the client's span its parent.
    _, trace_id, our_span, _ = sent[0].headers["traceparent"].split("-")
    assert trace_id == CLIENT_TRACE
    (span,) = collector.store.query(TraceQuery(trace_id=CLIENT_TRACE))[0]["spans"]
    assert span["span_id"] == our_span
    event = one[CLIENT_TRACE]
    assert event["event"] == "$ai_generation"
    assert event["distinct_id"] == "user-7"
    props = event["properties"]
    assert "$process_person_profile" not in props
    assert answer.usage is not None
    assert props == {
        "$ai_trace_id": CLIENT_TRACE,
        "$ai_span_id": our_span,
        "$ai_parent_id": CLIENT_SPAN,
        "$ai_model": "gpt-4o",
        "$ai_provider": "openai",
        "$ai_latency": props["$ai_latency"],
        "$ai_stream": False,
        "$ai_http_status": 200,
        "$ai_is_error": False,
        "$ai_input_tokens": answer.usage.prompt_tokens,
        "$ai_output_tokens": answer.usage.completion_tokens,
        "$ai_input": MESSAGES,
        # No price in the config: the bundled snapshot prices openai/gpt-4o at $2.50 / $10 per
        # million input / output tokens.
        "$ai_input_cost_usd": pytest.approx(answer.usage.prompt_tokens * 2.5e-6),
        "$ai_output_cost_usd": pytest.approx(answer.usage.completion_tokens * 10e-6),
        "$ai_total_cost_usd": pytest.approx(
            answer.usage.prompt_tokens * 2.5e-6 + answer.usage.completion_tokens * 10e-6
        ),
        # Agentic signals (on by default): the analysis of the request's conversation.
        "$ai_signals_quality": "neutral",
        "$ai_signals_quality_score": 50.0,
        "$ai_signals_flagged": False,
        "$ai_signals_categories": {},
        "$ai_signals_types": [],
    }
    assert 0 < props["$ai_latency"] < 5
    # The second project: no header configured, no capture.
    other = two[CLIENT_TRACE]
    assert other["distinct_id"] == CLIENT_TRACE
    assert other["properties"]["$process_person_profile"] is False
    assert "$ai_input" not in other["properties"]
    assert other["uuid"] == event["uuid"]

    # The stream: a trace the gateway started, anonymous (no x-user-id header).
    stream_trace = sent[1].headers["traceparent"].split("-")[1]
    s = one[stream_trace]
    assert s["distinct_id"] == stream_trace
    sp = s["properties"]
    assert sp["$process_person_profile"] is False
    assert "$ai_parent_id" not in sp
    assert sp["$ai_stream"] is True
    assert 0 < sp["$ai_time_to_first_token"] <= sp["$ai_latency"]
    usage = chunks[-1].usage
    assert usage is not None
    assert (sp["$ai_input_tokens"], sp["$ai_output_tokens"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    assert sp["$ai_input"] == [{"role": "user", "content": "stream it"}]

    # No secret in any log line or in the access log.
    out = capsys.readouterr()
    for secret in (KEY_ONE, KEY_TWO, UPSTREAM_KEY):
        assert secret not in caplog.text
        assert secret not in out.out + out.err


def test_without_capture_messages_no_input_is_sent(
    upstream: Any, gateway: GatewayFactory, fake: FakePosthog, collector: Collector
) -> None:
    text = config(upstream, fake, collector).replace("capture_messages: true", "")
    with gateway(text) as gw, client(gw, **{"x-user-id": "u"}) as c:
        c.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    (event,) = fake.wait_for(1, "/one/batch/")
    assert event["distinct_id"] == "u"
    assert "$ai_input" not in event["properties"]
