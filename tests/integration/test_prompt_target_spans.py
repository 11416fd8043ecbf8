"""Prompt-listener telemetry end to end: the spans of intent detection, the endpoint call and the
final LLM call in the client's trace, and `plano_prompt_target_calls_total`."""

from __future__ import annotations

import pytest

from plano.config.sections import TracingConfig
from plano.mock.testing import MockHandle
from plano.observability.metrics import build_metrics
from plano.observability.telemetry import Telemetry
from plano.observability.tracing import build_tracing
from tests.conftest import GatewayFactory
from tests.integration.test_agent_spans import CLIENT_TP, CLIENT_TRACE, MemorySender
from tests.integration.test_prompt_targets import WEATHER_Q, Api, api, client, config, user

pytestmark = pytest.mark.integration
__all__ = ["api"]  # the fixture


def test_metrics_and_spans(
    gateway: GatewayFactory, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    sender = MemorySender()
    tracing = build_tracing(TracingConfig(random_sampling=100), {}, sender=sender)
    metrics = build_metrics([])
    telemetry = Telemetry(metrics=metrics, tracing=tracing)
    with gateway(config(upstream, host), env={"WEATHER_TOKEN": "t"}, telemetry=telemetry) as gw:
        c = client(gw)
        c.chat.completions.create(
            model="gpt-4o", messages=user(WEATHER_Q), extra_headers={"traceparent": CLIENT_TP}
        )
        c.chat.completions.create(model="gpt-4o", messages=user("What is the weather?"))
    metrics.flush()
    body = metrics.render()[0].decode()
    assert (
        'plano_prompt_target_calls_total{outcome="called",target="get_current_weather"} 1.0' in body
    )
    assert 'outcome="clarification",target="-"} 1.0' in body
    spans = [s for s in sender.spans() if s["trace_id"] == CLIENT_TRACE]
    named = {s["name"]: s for s in spans}
    intent = named["function_calling"]
    endpoint = named["prompt_target get_current_weather"]
    assert intent["attributes"]["plano.function_calling.backend"] == "arch_function"
    assert endpoint["attributes"]["plano.prompt_target.parameters"] == "location,days"
    assert "plano.prompt_target.arguments" not in endpoint["attributes"]
    assert "prompt_llm" in named
    assert served.seen[0]["headers"]["traceparent"].split("-")[2] == endpoint["span_id"]
    fc = next(r for r in upstream.requests if r.body.get("model") == "Arch-Function")
    assert fc.headers["traceparent"] == f"00-{CLIENT_TRACE}-{intent['span_id']}-01"
    llm = next(r for r in upstream.requests if r.body.get("model") == "gpt-4o")
    assert llm.headers["traceparent"] == f"00-{CLIENT_TRACE}-{named['prompt_llm']['span_id']}-01"
    assert (
        intent["parent_span_id"]
        == endpoint["parent_span_id"]
        == named["prompt_llm"]["parent_span_id"]
    )
