"""What the gateway forwards of the client's headers: never the hop-by-hop ones, those the
client's `Connection` header names among them, nor its cookies (model and agent listeners, the
mock upstream recording what it received)."""

from __future__ import annotations

import http.client
import json
from typing import Any

import pytest

from plano.http.headers import connection_named
from plano.mock.testing import run_mock_in_thread
from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration

HEADERS = {
    "content-type": "application/json",
    "authorization": "Bearer client-key",
    "connection": "keep-alive, X-Secret, x-other",
    "x-secret": "s3cret",
    "x-other": "o",
    "x-kept": "k",
    "cookie": "session=abc",
}
HI = [{"role": "user", "content": "hi"}]


def post(url: str, path: str, body: dict[str, Any]) -> int:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("POST", path, json.dumps(body), HEADERS)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def assert_not_forwarded(headers: dict[str, str]) -> None:
    assert headers["x-kept"] == "k"
    for name in ("x-secret", "x-other", "cookie"):
        assert name not in headers, name
    assert "s3cret" not in json.dumps(headers)


def test_connection_named_lists_lower_case_names() -> None:
    assert connection_named(b"keep-alive, X-Secret,,  te ") == {b"keep-alive", b"x-secret", b"te"}


@pytest.mark.parametrize(
    ("model", "path", "body"),
    [
        (
            "openai/gpt-4o",
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "hi"}]},
        ),
        (
            "anthropic/claude-x",
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "hi"}]},
        ),
        (
            "openai/gpt-4o",
            "/v1/messages",
            {"max_tokens": 5, "messages": HI},
        ),
    ],
)
def test_model_listener(
    model: str, path: str, body: dict[str, Any], upstream: Any, gateway: GatewayFactory
) -> None:
    config = f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 5s}}
model_providers:
  - model: {model}
    access_key: sk-upstream
    base_url: {upstream.base_url}
"""
    with gateway(config) as gw:
        assert post(gw.url(), path, {"model": model, **body}) == 200
    (request,) = upstream.requests
    assert_not_forwarded(request.headers)


def test_agent_listener(upstream: Any, gateway: GatewayFactory) -> None:
    with run_mock_in_thread(default_text="It is sunny.") as agent:
        config = f"""
version: v0.3.0
agents:
  - id: weather_agent
    url: {agent.base_url}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-test
    base_url: {upstream.base_url}
    default: true
listeners:
  - type: agent
    name: travel
    address: 127.0.0.1
    port: 0
    agents:
      - id: weather_agent
        description: Weather forecasts for any city.
        default: true
"""
        with gateway(config) as gw:
            body = {"messages": [{"role": "user", "content": "weather?"}]}
            assert post(gw.url("agent"), "/v1/chat/completions", body) == 200
        (request,) = agent.requests
        assert_not_forwarded(request.headers)
