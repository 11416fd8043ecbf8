"""Agent selection backends (`routing.router.type`): the embedded router picks agents by
description with the real MiniLM model, offline; the orchestrator stays in charge when declared."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import openai
import pytest

from plano.mock.testing import MockHandle, run_mock_in_thread
from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration

CLOSED_PORT_URL = "http://127.0.0.1:9"  # discard port: nothing listens there


def config(
    upstream: Any,
    weather: str,
    flight: str,
    *,
    orchestrator_url: str | None = None,
    router: str = "",
) -> str:
    orchestrator = (
        ""
        if orchestrator_url is None
        else f"""
  - model: openai/Plano-Orchestrator
    access_key: sk-orchestrator
    base_url: {orchestrator_url}"""
    )
    return f"""
version: v0.3.0
agents:
  - {{id: weather_agent, url: {weather}}}
  - {{id: flight_agent, url: {flight}}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-test
    base_url: {upstream.base_url}
    default: true{orchestrator}
{router}
listeners:
  - type: agent
    name: travel
    address: 127.0.0.1
    port: 0
    agents:
      - id: weather_agent
        description: Real-time weather forecasts, temperature and rain for any city.
        default: true
      - id: flight_agent
        description: Live flight schedules and bookings between airports.
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
"""


@pytest.fixture
def agents() -> Iterator[tuple[MockHandle, MockHandle]]:
    with ExitStack() as stack:
        weather = stack.enter_context(run_mock_in_thread(default_text="It is sunny."))
        flight = stack.enter_context(run_mock_in_thread(default_text="AF1234 at 10:00."))
        yield weather, flight


def ask(gw: Any, text: str) -> str:
    with openai.OpenAI(base_url=f"{gw.url('agent')}/v1", api_key="client-key", max_retries=0) as c:
        reply = c.chat.completions.create(
            model="gpt-4o",
            messages=[
                {"role": "system", "content": "You are a travel assistant."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello, how can I help?"},
                {"role": "user", "content": text},
            ],
        )
    return reply.choices[0].message.content or ""


def test_embedded_router_picks_agents_by_description_without_orchestrator(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    with gateway(config(upstream, weather.base_url, flight.base_url)) as gw:
        assert ask(gw, "Are there any flights from Paris to Rome tomorrow?") == "AF1234 at 10:00."
        assert ask(gw, "Will it rain in Berlin this weekend?") == "It is sunny."
        assert ask(gw, "Book me a flight to Tokyo on Friday.") == "AF1234 at 10:00."
    assert upstream.requests == []  # no model call for selection
    assert len(flight.requests) == 2 and len(weather.requests) == 1
    # multi-turn: the agent sees the whole history
    assert [m["role"] for m in flight.requests[0].body["messages"]] == [
        "system", "user", "assistant", "user",
    ]  # fmt: skip


def test_embedded_below_threshold_serves_the_default_agent(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    router = "routing: {router: {type: embedded, no_match_threshold: 0.99}}"
    text = config(
        upstream, weather.base_url, flight.base_url, orchestrator_url=upstream.base_url,
        router=router,
    )  # fmt: skip
    with gateway(text) as gw:
        assert ask(gw, "Are there any flights from Paris to Rome tomorrow?") == "It is sunny."
    assert upstream.requests == []  # type: embedded never asks the declared orchestrator
    assert flight.requests == []


def test_auto_falls_back_to_embedded_while_orchestrator_unreachable(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    text = config(upstream, weather.base_url, flight.base_url, orchestrator_url=CLOSED_PORT_URL)
    with gateway(text) as gw:
        assert ask(gw, "Are there any flights from Paris to Rome tomorrow?") == "AF1234 at 10:00."
    assert weather.requests == []


def test_type_orchestrator_asks_the_declared_orchestrator(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    # The orchestrator's choice wins over what the description would suggest.
    answer = json.dumps({"route": ["weather_agent"]})
    upstream.script({"model": "Plano-Orchestrator", "text": answer})
    text = config(
        upstream, weather.base_url, flight.base_url, orchestrator_url=upstream.base_url,
        router="routing: {router: {type: orchestrator}}",
    )  # fmt: skip
    with gateway(text) as gw:
        assert ask(gw, "Are there any flights from Paris to Rome tomorrow?") == "It is sunny."
    (orch,) = upstream.requests
    assert orch.body["model"] == "Plano-Orchestrator"
    assert flight.requests == []


def test_type_orchestrator_unreachable_fails_the_request(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    text = config(
        upstream, weather.base_url, flight.base_url, orchestrator_url=CLOSED_PORT_URL,
        router="routing: {router: {type: orchestrator}}",
    )  # fmt: skip
    with gateway(text) as gw, pytest.raises(openai.InternalServerError) as info:
        ask(gw, "Are there any flights from Paris to Rome tomorrow?")
    assert "Failed to determine route" in str(info.value)
    assert weather.requests == [] and flight.requests == []
