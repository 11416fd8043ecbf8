"""`/v1/responses` on agent listeners: the OpenAI SDK's Responses API in front of chat-completion
agents, whole and streamed, with conversation state (`previous_response_id`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import openai
import pytest
from aiohttp import web

from plano.mock.testing import MockHandle, run_mock_in_thread
from tests.conftest import GatewayFactory
from tests.integration.services import aiohttp_in_thread
from tests.integration.test_agents import post, streaming_agent

pytestmark = pytest.mark.integration


def config(upstream: Any, weather: str, flight: str, state: bool = True) -> str:
    storage = "state_storage: {type: memory}" if state else ""
    return f"""
version: v0.3.0
agents:
  - {{id: weather_agent, url: {weather}}}
  - {{id: flight_agent, url: {flight}}}
model_providers:
  - {{model: openai/gpt-4o, access_key: k, base_url: {upstream.base_url}, default: true}}
{storage}
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


def sdk(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url('agent')}/v1", api_key="client-key", max_retries=0)


def texts(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    out = []
    for m in messages:
        content = m["content"]
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content)
        out.append((m["role"], content))
    return out


def test_responses_whole_then_follow_up_with_previous_response_id(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    with gateway(config(upstream, weather.base_url, flight.base_url)) as gw, sdk(gw) as c:
        first = c.responses.create(
            model="gpt-4o", instructions="Be brief.", input="Any flights from Paris to Rome?"
        )
        assert first.id.startswith("resp_")
        assert first.output_text == "AF1234 at 10:00."
        second = c.responses.create(
            model="gpt-4o", previous_response_id=first.id, input="Will it rain in Rome tomorrow?"
        )
    assert second.output_text == "It is sunny."
    assert second.id != first.id
    (call1,) = flight.requests
    assert call1.path == "/v1/chat/completions"
    assert texts(call1.body["messages"]) == [
        ("system", "Be brief."), ("user", "Any flights from Paris to Rome?"),
    ]  # fmt: skip
    (call2,) = weather.requests
    # the stored conversation (without the first request's instructions) precedes the new input
    assert texts(call2.body["messages"]) == [
        ("user", "Any flights from Paris to Rome?"),
        ("assistant", "AF1234 at 10:00."),
        ("user", "Will it rain in Rome tomorrow?"),
    ]
    assert upstream.requests == []


def test_responses_streamed_from_a_streaming_agent(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    with gateway(config(upstream, weather.base_url, flight.base_url)) as gw, sdk(gw) as c:
        events = list(
            c.responses.create(model="gpt-4o", input="Book a flight to Tokyo.", stream=True)
        )
        kinds = [e.type for e in events]
        assert kinds[0] == "response.created"
        assert kinds[-1] == "response.completed"
        deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
        assert deltas == "AF1234 at 10:00."
        completed = events[-1].response  # type: ignore[union-attr]
        assert completed.output_text == "AF1234 at 10:00."
        follow = c.responses.create(
            model="gpt-4o",
            previous_response_id=completed.id,
            input="And a return flight on Sunday?",
        )
    assert follow.output_text == "AF1234 at 10:00."
    first, second = flight.requests
    assert first.body["stream"] is True  # the agent was asked to stream
    assert texts(second.body["messages"])[:2] == [
        ("user", "Book a flight to Tokyo."), ("assistant", "AF1234 at 10:00."),
    ]  # fmt: skip
    assert weather.requests == []


def whole_agent() -> web.Application:
    """An agent that always answers one chat completion, even to a streaming request."""

    async def handle(request: web.Request) -> web.Response:
        await request.read()
        message = {"role": "assistant", "content": "Whole answer."}
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        doc = {"id": "c9", "object": "chat.completion", "created": 0, "model": "m"}
        return web.json_response({**doc, "choices": [choice]})

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    return app


def single(upstream: Any, url: str) -> str:
    return f"""
version: v0.3.0
agents: [{{id: only, url: {url}}}]
model_providers:
  - {{model: openai/gpt-4o, access_key: k, base_url: {upstream.base_url}, default: true}}
listeners:
  - {{type: agent, name: a, address: 127.0.0.1, port: 0, agents: [{{id: only, description: x}}]}}
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
"""


def test_stream_requested_agent_answers_whole(upstream: Any, gateway: GatewayFactory) -> None:
    with (
        aiohttp_in_thread(whole_agent()) as url,
        gateway(single(upstream, url)) as gw,
        sdk(gw) as c,
    ):
        events = list(c.responses.create(model="gpt-4o", input="hi", stream=True))
    assert events[-1].type == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "Whole answer."


def test_whole_requested_agent_streams(upstream: Any, gateway: GatewayFactory) -> None:
    with (
        aiohttp_in_thread(streaming_agent()) as url,
        gateway(single(upstream, url)) as gw,
        sdk(gw) as c,
    ):
        reply = c.responses.create(model="gpt-4o", input="hi")
    assert reply.output_text == "Flights \u00e9"
    assert reply.status == "completed"


def test_unknown_previous_response_id_is_409_and_without_state_400(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    doc = {"input": "hi", "previous_response_id": "resp_unknown"}
    with gateway(config(upstream, weather.base_url, flight.base_url)) as gw:
        status, body = post(gw.url("agent") + "/v1/responses", doc)
    assert status == 409
    assert "resp_unknown" in body["error"]["message"]
    with gateway(config(upstream, weather.base_url, flight.base_url, state=False)) as gw:
        status, body = post(gw.url("agent") + "/v1/responses", doc)
    assert status == 400
    assert body["error"]["param"] == "previous_response_id"
    assert weather.requests == [] and flight.requests == []
