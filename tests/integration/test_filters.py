"""Filter chains end to end: real HTTP filters (aiohttp) and a real MCP filter (mcp SDK server)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from aiohttp import web

from plano.mock.testing import MockHandle, run_mock_in_thread
from tests.conftest import GatewayFactory
from tests.integration.services import aiohttp_in_thread, mcp_in_thread
from tests.integration.test_agents import post, post_raw

pytestmark = pytest.mark.integration

MESSAGES = [{"role": "user", "content": "Weather in Paris?"}]


class Guard:
    """An HTTP filter: rejects 'forbidden', appends ' [guarded]' to the last message."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], Any]] = []

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            doc = await request.json()
            self.seen.append((request.path, dict(request.headers), json.loads(json.dumps(doc))))
            if "forbidden" in json.dumps(doc):
                return web.json_response({"message": "blocked by guard"}, status=403)
            if "crash" in json.dumps(doc):
                return web.json_response({"message": "boom"}, status=500)
            doc["messages"][-1]["content"] += " [guarded]"
            return web.json_response(doc)

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        return app


class Redactor:
    """An HTTP output filter: turns every 'qq' in the raw chunk into 'QQ'."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            raw = await request.read()
            self.chunks.append(raw)
            return web.Response(body=raw.replace(b"qq", b"QQ"))

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        return app


def rewrite_server() -> Any:
    from mcp.server.mcpserver import MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    server = MCPServer("rewriter", log_level="WARNING")

    @server.tool()
    def query_rewriter(body: dict[str, Any], path: str) -> dict[str, Any]:
        """Rewrite the last user message."""
        text = body["messages"][-1]["content"]
        if "jailbreak" in text:
            raise ToolError("jailbreak attempt detected")
        body["messages"][-1]["content"] = f"{text} (rewritten for {path})"
        return body

    return server


@pytest.fixture
def agent() -> Iterator[MockHandle]:
    with run_mock_in_thread(default_text="agent says hi") as handle:
        yield handle


def agent_config(upstream: Any, agent_url: str, filters: str, chain: str) -> str:
    return f"""
version: v0.3.0
agents:
  - {{id: rag_agent, url: {agent_url}}}
filters:
{filters}
model_providers:
  - {{model: openai/gpt-4o, access_key: k, base_url: {upstream.base_url}, default: true}}
listeners:
  - type: agent
    name: agent_1
    address: 127.0.0.1
    port: 0
    agents:
      - id: rag_agent
        description: retrieval
        filter_chain: [{chain}]
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
"""


def agent_url(gw: Any) -> str:
    return gw.url("agent") + "/v1/chat/completions"


def test_http_filter_mutation_reaches_the_agent(
    upstream: Any, agent: MockHandle, gateway: GatewayFactory
) -> None:
    guard = Guard()
    with aiohttp_in_thread(guard.app()) as url:
        text = agent_config(
            upstream, agent.base_url, f"  - {{id: guard, url: {url}, type: http}}", "guard"
        )
        with gateway(text) as gw:
            status, body = post(
                agent_url(gw), {"model": "gpt-4o", "messages": MESSAGES}, {"x-acme-id": "7"}
            )
    assert status == 200, body
    (call,) = agent.requests
    assert call.body["messages"] == [{"role": "user", "content": "Weather in Paris? [guarded]"}]
    ((path, headers, doc),) = guard.seen
    assert path == "/v1/chat/completions"
    assert doc == {"model": "gpt-4o", "messages": MESSAGES}
    assert headers["x-arch-upstream"] == "guard"
    assert headers["x-acme-id"] == "7"


def test_http_filter_reject_never_calls_the_agent(
    upstream: Any, agent: MockHandle, gateway: GatewayFactory
) -> None:
    guard = Guard()
    with aiohttp_in_thread(guard.app()) as url:
        text = agent_config(
            upstream, agent.base_url, f"  - {{id: guard, url: {url}, type: http}}", "guard"
        )
        with gateway(text) as gw:
            status, body = post(
                agent_url(gw), {"messages": [{"role": "user", "content": "forbidden topic"}]}
            )
    assert status == 403
    assert body["error"] == "ClientError"
    assert body["agent"] == "guard"
    assert json.loads(body["agent_response"]) == {"message": "blocked by guard"}
    assert agent.requests == []


def test_mcp_filter_mutation_and_tool_error(
    upstream: Any, agent: MockHandle, gateway: GatewayFactory
) -> None:
    with mcp_in_thread(rewrite_server()) as url:
        text = agent_config(
            upstream, agent.base_url, f"  - {{id: query_rewriter, url: {url}}}", "query_rewriter"
        )
        with gateway(text) as gw:
            status, body = post(agent_url(gw), {"messages": MESSAGES})
            assert status == 200, body
            status2, body2 = post(agent_url(gw), {"messages": MESSAGES})
            assert status2 == 200, body2
            bad, rejected = post(
                agent_url(gw), {"messages": [{"role": "user", "content": "jailbreak now"}]}
            )
    first, second = agent.requests
    rewritten = "Weather in Paris? (rewritten for /v1/chat/completions)"
    assert first.body["messages"] == [{"role": "user", "content": rewritten}]
    assert second.body["messages"] == first.body["messages"]
    assert bad == 400
    assert rejected["error"] == "ClientError"
    assert rejected["agent"] == "query_rewriter"
    assert "jailbreak attempt detected" in rejected["agent_response"]


def test_mcp_session_is_reopened_after_server_restart(
    upstream: Any, agent: MockHandle, gateway: GatewayFactory
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    text = agent_config(
        upstream, agent.base_url, f"  - {{id: query_rewriter, url: {url}}}", "query_rewriter"
    )
    with gateway(text) as gw:
        with mcp_in_thread(rewrite_server(), port):
            assert post(agent_url(gw), {"messages": MESSAGES})[0] == 200
        # a new server on the same port knows nothing of the gateway's session
        with mcp_in_thread(rewrite_server(), port):
            status, body = post(agent_url(gw), {"messages": MESSAGES})
    assert status == 200, body
    assert len(agent.requests) == 2


def test_unreachable_filter_fails_explicitly(
    upstream: Any, agent: MockHandle, gateway: GatewayFactory
) -> None:
    text = agent_config(
        upstream, agent.base_url, "  - {id: gone, url: 'http://127.0.0.1:9', type: http}", "gone"
    )
    with gateway(text) as gw:
        status, body = post(agent_url(gw), {"messages": MESSAGES})
    assert status == 502
    assert body["error"]["type"] == "AgentFilterChainError"
    assert "gone" in body["error"]["message"]
    assert agent.requests == []


def model_config(upstream: Any, guard: str, redactor: str) -> str:
    return f"""
version: v0.3.0
filters:
  - {{id: content_guard, url: {guard}, type: http}}
  - {{id: output_redactor, url: {redactor}, type: http}}
model_providers:
  - {{model: openai/gpt-4o-mini, access_key: k, base_url: {upstream.base_url}, default: true}}
listeners:
  - type: model
    name: llm_gateway
    address: 127.0.0.1
    port: 0
    input_filters: [content_guard]
    output_filters: [output_redactor]
"""


@pytest.fixture
def filtered(upstream: Any, gateway: GatewayFactory) -> Iterator[tuple[Any, Guard, Redactor]]:
    guard, redactor = Guard(), Redactor()
    with (
        aiohttp_in_thread(guard.app()) as g,
        aiohttp_in_thread(redactor.app()) as r,
        gateway(model_config(upstream, g, r)) as gw,
    ):
        yield gw, guard, redactor


def sdk(gw: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="x", max_retries=0)


def test_model_listener_filters_non_streaming(
    upstream: Any, filtered: tuple[Any, Guard, Redactor]
) -> None:
    gw, guard, redactor = filtered
    upstream.script({"text": "qq says hello qq"})
    with sdk(gw) as c:
        reply = c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES)
    assert reply.choices[0].message.content == "QQ says hello QQ"
    (req,) = upstream.requests
    assert req.body["messages"] == [{"role": "user", "content": "Weather in Paris? [guarded]"}]
    assert len(redactor.chunks) == 1 and b"qq says hello qq" in redactor.chunks[0]
    ((path, _, doc),) = guard.seen
    assert path == "/v1/chat/completions" and doc["model"] == "gpt-4o-mini"


def test_model_listener_filters_streaming(
    upstream: Any, filtered: tuple[Any, Guard, Redactor]
) -> None:
    gw, guard, redactor = filtered
    upstream.script({"text": "qq qq qq", "chunks": 3})
    with sdk(gw) as c:
        chunks = list(
            c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
        )
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert text == "QQ QQ QQ"
    (req,) = upstream.requests
    assert req.body["messages"][-1]["content"] == "Weather in Paris? [guarded]"
    assert req.body["stream"] is True
    assert redactor.chunks and all(c.startswith(b"data: ") for c in redactor.chunks)
    assert guard.seen[0][2]["stream"] is True


def test_model_listener_input_reject(upstream: Any, filtered: tuple[Any, Guard, Redactor]) -> None:
    gw, _, _ = filtered
    status, body = post(
        gw.url() + "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "forbidden"}]},
    )
    assert status == 403
    assert body["error"] == "FilterChainError"
    assert body["agent"] == "content_guard"
    assert upstream.requests == []


def test_model_listener_filter_5xx_is_500_in_dialect(
    upstream: Any, filtered: tuple[Any, Guard, Redactor]
) -> None:
    gw, _, _ = filtered
    status, body = post(
        gw.url() + "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "crash"}]},
    )
    assert status == 500
    assert "Filter chain processing failed" in body["error"]["message"]
    assert body["error"]["code"] == "filter_failed"
    assert upstream.requests == []


def test_output_filter_failure_on_a_stream_is_explicit(
    upstream: Any, gateway: GatewayFactory
) -> None:
    guard = Guard()  # answers 500 to a body that is not JSON, such as an SSE chunk
    with aiohttp_in_thread(guard.app()) as g:
        text = model_config(upstream, g, g).replace(
            "output_filters: [output_redactor]", "output_filters: [content_guard]"
        )
        with gateway(text) as gw:
            raw, status, _ = post_raw(
                gw.url() + "/v1/chat/completions",
                {"model": "gpt-4o-mini", "stream": True, "messages": MESSAGES},
            )
    assert status == 200  # headers were out before the first chunk met the filter
    events = [e for e in raw.split(b"\n\n") if e.strip()]
    (only,) = events
    error = json.loads(only.removeprefix(b"data: "))["error"]
    assert "Filter chain processing failed" in error["message"]
    assert "content_guard" in error["message"]


def test_mcp_input_filter_on_the_model_listener(upstream: Any, gateway: GatewayFactory) -> None:
    with mcp_in_thread(rewrite_server()) as url:
        text = f"""
version: v0.3.0
filters: [{{id: query_rewriter, url: "{url}"}}]
model_providers:
  - {{model: openai/gpt-4o-mini, access_key: k, base_url: {upstream.base_url}, default: true}}
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, input_filters: [query_rewriter]}}
"""
        with gateway(text) as gw:
            with sdk(gw) as c:
                chunks = list(
                    c.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True)
                )
            status, body = post(
                gw.url() + "/v1/chat/completions",
                {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "jailbreak"}]},
            )
    assert chunks
    (req,) = upstream.requests
    assert req.body["messages"][-1]["content"] == (
        "Weather in Paris? (rewritten for /v1/chat/completions)"
    )
    assert status == 400
    assert body["error"] == "FilterChainError" and body["agent"] == "query_rewriter"
    assert "jailbreak attempt detected" in body["agent_response"]


class Flaky:
    """An HTTP filter that answers 503 to its first `failures` calls, then passes bodies on."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def app(self) -> web.Application:
        async def handle(request: web.Request) -> web.Response:
            self.calls += 1
            doc = await request.json()
            if self.calls <= self.failures:
                return web.json_response({"message": "busy"}, status=503)
            return web.json_response(doc)

        app = web.Application()
        app.router.add_post("/{tail:.*}", handle)
        return app


@pytest.mark.parametrize("retries", [0, 1])
def test_http_filter_retried_only_when_configured(
    upstream: Any, agent: MockHandle, gateway: GatewayFactory, retries: int
) -> None:
    flaky = Flaky(failures=1)
    policy = f", retry_policy: {{num_retries: {retries}, base_interval: 10ms}}" if retries else ""
    with aiohttp_in_thread(flaky.app()) as url:
        filters = f"  - {{id: flaky, url: {url}, type: http{policy}}}"
        with gateway(agent_config(upstream, agent.base_url, filters, "flaky")) as gw:
            status, body = post(agent_url(gw), {"model": "gpt-4o", "messages": MESSAGES})
    if retries:
        assert status == 200, body
        assert flaky.calls == 2
        assert len(agent.requests) == 1
    else:  # never retried by default: a filter call may not be idempotent
        assert status == 502, body  # a failed filter on an agent listener
        assert flaky.calls == 1
        assert agent.requests == []


@pytest.mark.parametrize("retries", [0, 1])
def test_agent_call_retried_only_when_configured(
    upstream: Any, agent: MockHandle, gateway: GatewayFactory, retries: int
) -> None:
    agent.script({"status": 503, "message": "agent busy"})
    guard = Guard()
    with aiohttp_in_thread(guard.app()) as url:
        text = agent_config(
            upstream, agent.base_url, f"  - {{id: guard, url: {url}, type: http}}", "guard"
        )
        if retries:
            plain = f"  - {{id: rag_agent, url: {agent.base_url}}}"
            text = text.replace(
                plain,
                f"  - {{id: rag_agent, url: {agent.base_url}, "
                f"retry_policy: {{num_retries: {retries}, base_interval: 10ms}}}}",
            )
            assert "retry_policy" in text
        with gateway(text) as gw:
            status, body = post(agent_url(gw), {"model": "gpt-4o", "messages": MESSAGES})
    if retries:
        assert status == 200, body
        assert len(agent.requests) == 2
    else:  # never retried by default: an agent call may not be idempotent
        assert status == 502, body
        assert len(agent.requests) == 1
    assert len(guard.seen) == 1  # the filter ran once either way
