"""Agent-listener spans end to end: one trace from the client's request through selection, an
HTTP filter, an MCP filter and the agent, each sub-call carrying its own span's context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from mcp.server.mcpserver import Context, MCPServer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from plano.config.sections import TracingConfig
from plano.observability.telemetry import Telemetry
from plano.observability.tracing import build_tracing
from plano.tracecollector.store import spans_from_request
from tests.conftest import GatewayFactory
from tests.integration.services import aiohttp_in_thread, mcp_in_thread
from tests.integration.test_agents import post

pytestmark = pytest.mark.integration

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_TP = f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"


class MemorySender:
    """A `SpanSender` keeping the OTLP export requests."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []

    def send(self, request: bytes) -> bool:
        self.requests.append(request)
        return True

    def shutdown(self) -> None:
        return None

    def spans(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for raw in self.requests:
            request = ExportTraceServiceRequest()
            request.ParseFromString(raw)
            out.extend(spans_from_request(request))
        return out


class Seen:
    """What an HTTP service (agent, filter, orchestrator) received: headers per call."""

    def __init__(self, answer: Any) -> None:
        self.headers: list[dict[str, str]] = []
        self._answer = answer

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            self.headers.append(dict(request.headers))
            doc = await request.json()
            answer = self._answer(doc) if callable(self._answer) else self._answer
            return web.json_response(answer)

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        return app


def chat(text: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": text}
    return {"id": "c1", "object": "chat.completion", "model": "m", "created": 0,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}  # fmt: skip


def mcp_server(received: list[Any]) -> Any:
    server = MCPServer("rewriter", log_level="WARNING")

    @server.tool()
    def query_rewriter(body: dict[str, Any], path: str, ctx: Context) -> dict[str, Any]:
        """Record the request's _meta; pass the body through."""
        meta = ctx.request_context.meta
        received.append(dict(meta) if meta else None)
        return body

    return server


@pytest.fixture
def traced() -> Iterator[tuple[Telemetry, MemorySender]]:
    sender = MemorySender()
    tracing = build_tracing(TracingConfig(random_sampling=100), {}, sender=sender)
    assert tracing is not None
    yield Telemetry(tracing=tracing), sender


def test_one_trace_request_selection_filters_agent(
    traced: tuple[Telemetry, MemorySender], gateway: GatewayFactory
) -> None:
    telemetry, sender = traced
    orchestrator = Seen(chat(json.dumps({"route": ["flight_agent"]})))
    guard = Seen(lambda doc: doc)
    flight, weather = Seen(chat("AF1234")), Seen(chat("sunny"))
    meta: list[Any] = []
    with (
        aiohttp_in_thread(orchestrator.app()) as orch_url,
        aiohttp_in_thread(guard.app()) as guard_url,
        aiohttp_in_thread(flight.app()) as flight_url,
        aiohttp_in_thread(weather.app()) as weather_url,
        mcp_in_thread(mcp_server(meta)) as mcp_url,
    ):
        text = f"""
version: v0.3.0
agents:
  - {{id: weather_agent, url: {weather_url}}}
  - {{id: flight_agent, url: {flight_url}}}
filters:
  - {{id: guard, url: {guard_url}, type: http}}
  - {{id: query_rewriter, url: {mcp_url}}}
model_providers:
  - {{model: openai/gpt-4o, access_key: k, base_url: {orch_url}, default: true}}
  - {{model: openai/Plano-Orchestrator, access_key: k, base_url: {orch_url}}}
listeners:
  - type: agent
    name: travel
    address: 127.0.0.1
    port: 0
    agents:
      - {{id: weather_agent, description: Weather., default: true}}
      - {{id: flight_agent, description: Flights., input_filters: [guard, query_rewriter]}}
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
"""
        with gateway(text, telemetry=telemetry) as gw:
            status, body = post(
                gw.url("agent") + "/v1/chat/completions",
                {"model": "gpt-4o", "messages": [{"role": "user", "content": "Flights?"}]},
                {"traceparent": CLIENT_TP},
            )
        assert status == 200, body
    spans = {s["name"]: s for s in sender.spans()}
    assert {s["trace_id"] for s in spans.values()} == {CLIENT_TRACE}
    request = spans["POST /v1/chat/completions gpt-4o"]
    selection = spans["travel"]
    http_filter = spans["execute_raw_filter (guard)"]
    mcp_filter = spans["execute_mcp_filter_raw (query_rewriter)"]
    agent = spans["flight_agent /v1/chat/completions"]
    assert len(spans) == 5
    for child in (selection, http_filter, mcp_filter, agent):
        assert child["parent_span_id"] == request["span_id"]
    assert selection["service"] == "plano(orchestrator)"
    assert selection["attributes"]["selection.listener"] == "travel"
    assert selection["attributes"]["selection.agent_count"] == 1
    assert selection["attributes"]["selection.agents"] == "flight_agent"
    assert selection["attributes"]["selection.determination_ms"] > 0
    assert http_filter["service"] == mcp_filter["service"] == "plano(filter)"
    assert agent["service"] == "plano(agent)"
    assert agent["attributes"]["http.status_code"] == 200
    # Each callee joined its own span: the traceparent it got names that span as parent.
    (orch_headers,) = orchestrator.headers
    assert orch_headers["traceparent"] == f"00-{CLIENT_TRACE}-{selection['span_id']}-01"
    (guard_headers,) = guard.headers
    assert guard_headers["traceparent"] == f"00-{CLIENT_TRACE}-{http_filter['span_id']}-01"
    (flight_headers,) = flight.headers
    assert flight_headers["traceparent"] == f"00-{CLIENT_TRACE}-{agent['span_id']}-01"
    assert meta == [{"traceparent": f"00-{CLIENT_TRACE}-{mcp_filter['span_id']}-01"}]
    assert weather.headers == []


def test_rejecting_filter_span_has_the_error(
    traced: tuple[Telemetry, MemorySender], gateway: GatewayFactory
) -> None:
    telemetry, sender = traced

    async def reject(request: web.Request) -> web.Response:
        return web.json_response({"message": "no"}, status=403)

    app = web.Application()
    app.router.add_post("/{tail:.*}", reject)
    agent = Seen(chat("hi"))
    with aiohttp_in_thread(app) as guard_url, aiohttp_in_thread(agent.app()) as agent_url:
        text = f"""
version: v0.3.0
agents: [{{id: only, url: {agent_url}}}]
filters: [{{id: guard, url: {guard_url}, type: http}}]
model_providers: [{{model: openai/gpt-4o, access_key: k, base_url: {agent_url}, default: true}}]
listeners:
  - {{type: agent, name: a, address: 127.0.0.1, port: 0,
      agents: [{{id: only, description: x, input_filters: [guard]}}]}}
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
"""
        with gateway(text, telemetry=telemetry) as gw:
            status, _ = post(gw.url("agent") + "/v1/chat/completions", {"messages": []})
    assert status == 403
    spans = {s["name"]: s for s in sender.spans()}
    failed = spans["execute_raw_filter (guard)"]
    assert failed["status"] == "error"
    assert failed["attributes"]["http.status_code"] == 403
    assert "only /v1/chat/completions" not in spans  # the agent was never called
    assert agent.headers == []


def test_mcp_meta_carries_the_clients_context_with_tracing_off(gateway: GatewayFactory) -> None:
    meta: list[Any] = []
    agent = Seen(chat("hi"))
    with aiohttp_in_thread(agent.app()) as agent_url, mcp_in_thread(mcp_server(meta)) as mcp_url:
        text = f"""
version: v0.3.0
agents: [{{id: only, url: {agent_url}}}]
filters: [{{id: query_rewriter, url: {mcp_url}}}]
model_providers: [{{model: openai/gpt-4o, access_key: k, base_url: {agent_url}, default: true}}]
listeners:
  - {{type: agent, name: a, address: 127.0.0.1, port: 0,
      agents: [{{id: only, description: x, input_filters: [query_rewriter]}}]}}
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
"""
        with gateway(text) as gw:
            for tp in (CLIENT_TP, None):
                headers = {"traceparent": tp, "tracestate": "k=v"} if tp else {}
                doc = {"messages": [{"role": "user", "content": "x"}]}
                status, _ = post(gw.url("agent") + "/v1/chat/completions", doc, headers)
                assert status == 200
    assert meta == [{"traceparent": CLIENT_TP, "tracestate": "k=v"}, None]
    assert agent.headers[0]["traceparent"] == CLIENT_TP


def test_model_listener_input_filter_span(
    traced: tuple[Telemetry, MemorySender], upstream: Any, gateway: GatewayFactory
) -> None:
    telemetry, sender = traced
    guard = Seen(lambda doc: doc)
    with aiohttp_in_thread(guard.app()) as guard_url:
        text = f"""
version: v0.3.0
filters: [{{id: guard, url: {guard_url}, type: http}}]
model_providers:
  - {{model: openai/gpt-4o, access_key: k, base_url: {upstream.base_url}, default: true}}
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, input_filters: [guard]}}
"""
        with gateway(text, telemetry=telemetry) as gw:
            status, _ = post(
                gw.url("model") + "/v1/chat/completions",
                {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
                {"traceparent": CLIENT_TP},
            )
    assert status == 200
    spans = {s["name"]: s for s in sender.spans()}
    request = spans["POST /v1/chat/completions gpt-4o"]
    span = spans["execute_raw_filter (guard)"]
    assert span["parent_span_id"] == request["span_id"]
    assert span["trace_id"] == CLIENT_TRACE
    (headers,) = guard.headers
    assert headers["traceparent"] == f"00-{CLIENT_TRACE}-{span['span_id']}-01"
    # the model call itself carries the request span's context, not the filter's
    (call,) = upstream.requests
    assert call.headers["traceparent"] == f"00-{CLIENT_TRACE}-{request['span_id']}-01"
