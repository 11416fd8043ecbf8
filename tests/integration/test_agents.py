"""Agent listeners end to end: the OpenAI SDK -> gateway -> orchestrator model and real agents."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import openai
import pytest
from aiohttp import web

from plano.mock.testing import MockHandle, run_mock_in_thread
from tests.conftest import GatewayFactory
from tests.integration.services import aiohttp_in_thread

pytestmark = pytest.mark.integration

EXPECTED_PROMPT = """
You are a helpful assistant that selects the most suitable routes based on user intent.
You are provided with a list of available routes enclosed within <routes></routes> XML tags:
<routes>
{"name": "weather_agent", "description": "Weather forecasts for any city.", \
"parameters": {"type": "object", "properties": {}, "required": []}}
{"name": "flight_agent", "description": "Live flights between airports.", \
"parameters": {"type": "object", "properties": {}, "required": []}}
</routes>

You are also given the conversation context enclosed within <conversation></conversation> XML tags:
<conversation>
[
    {
        "role": "user",
        "content": "Hi"
    },
    {
        "role": "assistant",
        "content": "Hello, where to?"
    },
    {
        "role": "user",
        "content": "Which flights go from Paris to Rome?"
    }
]
</conversation>

## Instructions
1. Analyze the latest user intent from the conversation.
2. Compare it against the available routes to find which routes can help fulfill the request.
3. Respond only with the exact route names from <routes>.
4. If no routes can help or the intent is already fulfilled, return an empty list.

## Response Format
Return your answer strictly in JSON as follows:
{{"route": ["route_name_1", "route_name_2", "..."]}}
If no routes are needed, return an empty list for `route`.
"""


def config(upstream: Any, weather: str, flight: str, extra: str = "", agent_extra: str = "") -> str:
    return f"""
version: v0.3.0
agents:
  - id: weather_agent
    url: {weather}
  - id: flight_agent
    url: {flight}
{extra}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-test
    base_url: {upstream.base_url}
    default: true
  - model: openai/Plano-Orchestrator
    access_key: sk-orchestrator
    base_url: {upstream.base_url}
listeners:
  - type: agent
    name: travel
    address: 127.0.0.1
    port: 0
    router: plano_orchestrator_v1
    agents:
      - id: weather_agent
        description: Weather forecasts for any city.
        default: true
{agent_extra}
      - id: flight_agent
        description: Live flights between airports.
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
"""


@pytest.fixture
def agents() -> Iterator[tuple[MockHandle, MockHandle]]:
    with ExitStack() as stack:
        weather = stack.enter_context(run_mock_in_thread(default_text="It is sunny."))
        flight = stack.enter_context(run_mock_in_thread(default_text="AF1234 at 10:00."))
        yield weather, flight


def client(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url('agent')}/v1", api_key="client-key", max_retries=0)


CONVERSATION = [
    {"role": "system", "content": "You are a travel assistant."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello, where to?"},
    {"role": "user", "content": "Which flights go from Paris to Rome?"},
]


def route(upstream: Any, *names: str) -> None:
    upstream.script({"model": "Plano-Orchestrator", "text": json.dumps({"route": list(names)})})


def test_orchestrator_picks_second_agent(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    route(upstream, "flight_agent")
    with gateway(config(upstream, weather.base_url, flight.base_url)) as gw, client(gw) as c:
        reply = c.chat.completions.create(
            model="gpt-4o", messages=CONVERSATION, extra_headers={"x-request-id": "req-42"}
        )
    assert reply.choices[0].message.content == "AF1234 at 10:00."
    (orch,) = upstream.requests
    assert orch.body["model"] == "Plano-Orchestrator"
    assert orch.body["temperature"] == 0.01
    assert orch.body["messages"] == [{"role": "user", "content": EXPECTED_PROMPT}]
    assert orch.headers["authorization"] == "Bearer sk-orchestrator"
    assert orch.headers["x-request-id"] == "req-42"
    assert weather.requests == []
    (call,) = flight.requests
    assert call.path == "/v1/chat/completions"
    assert call.body["messages"] == CONVERSATION  # full history, multi-turn
    assert call.headers["x-arch-upstream"] == "flight_agent"
    assert call.headers["x-envoy-max-retries"] == "3"
    assert call.headers["x-request-id"] == "req-42"
    assert call.headers["authorization"] == "Bearer client-key"
    assert call.headers["accept"] == "application/json"
    assert call.headers["host"] == flight.base_url.removeprefix("http://")  # not the client's


def test_sequence_of_two_agents_feeds_the_next(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    route(upstream, "weather_agent", "flight_agent")
    with gateway(config(upstream, weather.base_url, flight.base_url)) as gw, client(gw) as c:
        chunks = list(c.chat.completions.create(model="gpt-4o", messages=CONVERSATION, stream=True))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "AF1234 at 10:00."
    (first,) = weather.requests
    assert first.body["messages"] == CONVERSATION
    (second,) = flight.requests
    assert second.body["messages"] == [
        *CONVERSATION[:3],
        {"role": "assistant", "name": "weather_agent", "content": "It is sunny."},
        CONVERSATION[3],
    ]


@pytest.mark.parametrize("answer", ["", '{"route": []}'])
def test_default_agent_when_nothing_matches(
    answer: str, upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    upstream.script({"model": "Plano-Orchestrator", "text": answer})
    with gateway(config(upstream, weather.base_url, flight.base_url)) as gw, client(gw) as c:
        reply = c.chat.completions.create(model="gpt-4o", messages=CONVERSATION)
    assert reply.choices[0].message.content == "It is sunny."
    assert flight.requests == []


def test_orchestrator_failure_is_explicit(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    upstream.script({"model": "Plano-Orchestrator", "text": "not json at all"})
    with gateway(config(upstream, weather.base_url, flight.base_url)) as gw:
        status, body = post(gw.url("agent") + "/v1/chat/completions", {"messages": CONVERSATION})
    assert status == 500
    assert body["error"]["type"] == "AgentFilterChainError"
    assert "Failed to determine route" in body["error"]["message"]
    assert weather.requests == [] and flight.requests == []


SSE_PIECES = [
    b'data: {"id":"c1","object":"chat.completion.chunk","choices":[{"index":0,',
    b'"delta":{"content":"Fl"}}]}\n\ndata: {"id":"c1","object":"chat.completion.chunk",',
    b'"choices":[{"index":0,"delta":{"content":"ights \xc3\xa9"}}]}\n\n',
    b"data: [DONE]\n\n",
]


def streaming_agent() -> web.Application:
    async def handle(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"content-type": "text/event-stream", "x-agent": "yes"})
        await resp.prepare(request)
        for piece in SSE_PIECES:
            await resp.write(piece)
        await resp.write_eof()
        return resp

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    return app


def post(url: str, doc: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    raw, status, _ = post_raw(url, doc, headers)
    return status, json.loads(raw)


def post_raw(url: str, doc: Any, headers: dict[str, str] | None = None) -> tuple[bytes, int, Any]:
    req = urllib.request.Request(
        url,
        data=json.dumps(doc).encode(),
        method="POST",
        headers={"content-type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=15) as resp:
            return resp.read(), resp.status, resp.headers
    except urllib.error.HTTPError as err:
        with err:
            return err.read(), err.code, err.headers


def test_streaming_relay_is_byte_identical(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, _ = agents
    route(upstream, "flight_agent")
    with (
        aiohttp_in_thread(streaming_agent()) as flight_url,
        gateway(config(upstream, weather.base_url, flight_url)) as gw,
    ):
        raw, status, headers = post_raw(
            gw.url("agent") + "/v1/chat/completions",
            {"model": "gpt-4o", "stream": True, "messages": CONVERSATION},
        )
    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    assert headers["x-agent"] == "yes"
    assert raw == b"".join(SSE_PIECES)


def agent_4xx() -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        return web.json_response({"detail": "no such city"}, status=422)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handle)
    return app


def test_agent_4xx_is_a_client_error(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, _ = agents
    route(upstream, "flight_agent")
    with (
        aiohttp_in_thread(agent_4xx()) as flight_url,
        gateway(config(upstream, weather.base_url, flight_url)) as gw,
    ):
        status, body = post(gw.url("agent") + "/v1/chat/completions", {"messages": CONVERSATION})
    assert status == 422
    assert body["error"] == "ClientError"
    assert body["agent"] == "flight_agent"
    assert json.loads(body["agent_response"]) == {"detail": "no such city"}


def test_single_agent_needs_no_orchestrator(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, _ = agents
    text = f"""
version: v0.3.0
agents: [{{id: only, url: {weather.base_url}}}]
listeners:
  - {{type: agent, name: a, address: 127.0.0.1, port: 0, agents: [{{id: only, description: x}}]}}
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
model_providers:
  - {{model: openai/gpt-4o, access_key: k, base_url: {upstream.base_url}, default: true}}
"""
    with gateway(text) as gw, client(gw) as c:
        reply = c.chat.completions.create(model="gpt-4o", messages=CONVERSATION)
    assert reply.choices[0].message.content == "It is sunny."
    assert upstream.requests == []


def test_trace_context_reaches_agent_and_orchestrator(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    weather, flight = agents
    route(upstream, "weather_agent")
    parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with gateway(config(upstream, weather.base_url, flight.base_url)) as gw:
        status, _ = post(
            gw.url("agent") + "/v1/chat/completions",
            {"messages": CONVERSATION},
            {"traceparent": parent},
        )
    assert status == 200
    (orch,) = upstream.requests
    (call,) = weather.requests
    assert orch.headers["traceparent"] == parent
    assert call.headers["traceparent"] == parent


def anthropic_agent(seen: list[tuple[str, Any]]) -> web.Application:
    async def handle(request: web.Request) -> web.Response:
        seen.append((request.path, await request.json()))
        return web.json_response(
            {
                "id": "msg_1",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4",
                "content": [{"type": "text", "text": "AF1234 at 10:00."}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 5, "output_tokens": 4},
            }
        )

    app = web.Application()
    app.router.add_post("/v1/messages", handle)
    return app


def test_anthropic_client_on_agent_listener(
    upstream: Any, agents: tuple[MockHandle, MockHandle], gateway: GatewayFactory
) -> None:
    import anthropic

    weather, _ = agents
    seen: list[tuple[str, Any]] = []
    route(upstream, "flight_agent")
    question = [{"role": "user", "content": [{"type": "text", "text": "Flights to Rome?"}]}]
    with (
        aiohttp_in_thread(anthropic_agent(seen)) as flight_url,
        gateway(config(upstream, weather.base_url, flight_url)) as gw,
        anthropic.Anthropic(base_url=gw.url("agent"), api_key="k", max_retries=0) as c,
    ):
        reply = c.messages.create(model="claude-sonnet-4", max_tokens=50, messages=question)
    assert reply.content[0].text == "AF1234 at 10:00."  # type: ignore[union-attr]
    ((path, body),) = seen
    assert path == "/v1/messages"
    assert body["messages"] == question and body["max_tokens"] == 50
    orch_prompt = upstream.requests[0].body["messages"][0]["content"]
    assert '"content": "Flights to Rome?"' in orch_prompt
