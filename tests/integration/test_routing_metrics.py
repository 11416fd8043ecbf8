"""Selection policies and the routing budget with live metrics sources (a models.dev-shaped cost
catalogue and a Prometheus query API, served on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import GatewayFactory
from tests.integration.test_routing import answer, chat, config

pytestmark = pytest.mark.integration

CATALOGUE = {
    "openai": {
        "models": {
            "gpt-4o": {"cost": {"input": 2.5, "output": 10.0, "cache_read": 1.25}},
            "gpt-4o-mini": {"cost": {"input": 0.15, "output": 0.6}},
            "o3": {"cost": {"input": 10.0, "output": 40.0}},
        }
    }
}
CHEAPEST = (
    "    models: [openai/gpt-4o, openai/gpt-4o-mini]\n    selection_policy: {prefer: cheapest}\n"
)
FASTEST = (
    "    models: [openai/gpt-4o-mini, openai/gpt-4o]\n    selection_policy: {prefer: fastest}\n"
)
LATENCY = {
    "status": "success",
    "data": {
        "resultType": "vector",
        "result": [
            {"metric": {"model_name": "openai/gpt-4o"}, "value": [0, "0.4"]},
            {"metric": {"model_name": "openai/gpt-4o-mini"}, "value": [0, "1.5"]},
        ],
    },
}


@pytest.fixture
def feeds() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            doc = LATENCY if self.path.startswith("/api/v1/query") else CATALOGUE
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def metrics_config(upstream: Any, base: str, routing: str = "") -> str:
    text = config(upstream, routing)
    text = text.replace(
        "    models: [openai/gpt-4o]\n",
        CHEAPEST,
        1,
    )
    text = text.replace(
        "    models: [openai/gpt-4o-mini]\n",
        FASTEST,
        1,
    )
    return (
        text
        + f"""
model_metrics_sources:
  - {{type: cost, provider: models.dev, url: "{base}/api.json"}}
  - {{type: latency, provider: prometheus, url: "{base}", query: "avg by (model_name) (x)"}}
"""
    )


def test_cheapest_and_fastest(
    upstream: Any, gateway: GatewayFactory, feeds: tuple[str, list[str]]
) -> None:
    base, seen = feeds
    answer(upstream, '{"route": ["code_generation"]}')
    answer(upstream, '{"route": ["casual_chat"]}')
    with gateway(metrics_config(upstream, base)) as gw:
        cheap = chat(gw, "write code", model="openai/gpt-4o")
        fast = chat(gw, "hello!", model="openai/gpt-4o")
    assert cheap.headers["x-plano-model"] == "openai/gpt-4o-mini"  # cheapest of the route
    assert fast.headers["x-plano-model"] == "openai/gpt-4o"  # lowest latency of the route
    assert "/api.json" in seen
    assert any(p.startswith("/api/v1/query?query=avg+by") for p in seen)


def test_budget_retains_the_warm_anchor(
    upstream: Any, gateway: GatewayFactory, feeds: tuple[str, list[str]]
) -> None:
    base, _ = feeds
    routing = "routing: {routing_budget: {max_switch_spend_pct: 5}}"
    text = metrics_config(upstream, base, routing).replace(
        CHEAPEST,
        "    models: [openai/gpt-4o]\n",
    )
    text = text.replace(
        FASTEST,
        "    models: [openai/o3]\n",
    ).replace(
        "  - model: openai/gpt-4o-mini\n",
        f"  - model: openai/o3\n    access_key: k\n    base_url: {upstream.base_url}\n"
        "  - model: openai/gpt-4o-mini\n",
    )
    answer(upstream, '{"route": ["code_generation"]}')
    answer(upstream, '{"route": ["casual_chat"]}')
    answer(upstream, '{"route": ["casual_chat"]}')
    with gateway(text) as gw:
        first = chat(gw, "write a parser")
        # Same system prompt, tools and first user message: the same implicit session.
        second = chat(gw, "write a parser")
        api_override = chat(
            gw, "write a parser", extra_headers={"x-plano-max-switch-spend-pct": "100"}
        )
    assert first.headers["x-plano-model"] == "openai/gpt-4o"
    # o3 costs far more than re-reading gpt-4o's cache: the switch is vetoed.
    assert second.headers["x-plano-model"] == "openai/gpt-4o"
    assert second.headers["x-plano-routing"] == "retained"
    assert second.headers["x-plano-session-id"].startswith("implicit:")
    assert api_override.headers["x-plano-routing"] == "retained"  # still over 100% of baseline
