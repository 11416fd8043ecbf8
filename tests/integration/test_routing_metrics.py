"""Selection policies and the routing budget with live metrics sources (a models.dev-shaped cost
catalogue and a Prometheus query API, served on 127.0.0.1)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import openai
import pytest

from plano.mock.testing import run_mock_in_thread
from tests.conftest import GatewayFactory
from tests.integration.test_agent_selection import ask
from tests.integration.test_agent_selection import config as agent_config
from tests.integration.test_metrics import (  # noqa: F401  (plano_up: a fixture)
    Samples,
    free_port,
    plano_up,
    scrape_until,
    value,
)
from tests.integration.test_model_listener import post
from tests.integration.test_routing import answer, chat, client, config

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


BUDGET_MODELS = (
    ("    models: [openai/gpt-4o]\n", CHEAPEST),
    ("    models: [openai/o3]\n", FASTEST),
)
TOOL_TURN = [
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "run", "arguments": "{}"}}
        ],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "ok"},
]


def budget_config(upstream: Any, base: str, routing: str) -> str:
    """gpt-4o for code, o3 for chat, a 5% switch budget (switching to o3 is always vetoed)."""
    text = metrics_config(upstream, base, routing)
    for replacement, original in BUDGET_MODELS:
        text = text.replace(original, replacement)
    return text.replace(
        "  - model: openai/gpt-4o-mini\n",
        f"  - model: openai/o3\n    access_key: k\n    base_url: {upstream.base_url}\n"
        "  - model: openai/gpt-4o-mini\n",
    )


def test_routing_session_and_prompt_cache_metrics(
    upstream: Any, gateway: GatewayFactory, feeds: tuple[str, list[str]]
) -> None:
    base, _ = feeds
    routing = "routing: {routing_budget: {max_switch_spend_pct: 5}, route_on_user_only: true}"
    text = budget_config(upstream, base, routing)
    text += "prompt_caching: {enabled: true, inject_cache_control: false}\n"
    answer(upstream, '{"route": ["code_generation"]}')  # turn 1
    answer(upstream, '{"route": ["casual_chat"]}')  # turn 2: o3, vetoed by the budget
    answer(upstream, '{"route": ["casual_chat"]}')  # routing API
    answer(upstream, '{"route": ["no_such_route"]}')  # router fallback
    with gateway(text) as gw:
        first = chat(gw, "write a parser")  # session miss, routed, stored, refreshed
        second = chat(gw, "write a parser", extra_headers={"x-mock-cached-tokens": "4"})
        turns = [{"role": "user", "content": "write a parser"}, *TOOL_TURN]
        replay = client(gw).chat.completions.with_raw_response.create(
            model="openai/gpt-4o-mini", messages=turns
        )
        body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
        url = f"{gw.url()}/routing/v1/chat/completions"
        served = post(url, json.dumps(body).encode())
        bad = post(url, b"not json")
        fallback = chat(gw, "something else entirely")

        def complete(s: Samples) -> bool:
            done = value(
                s, "brightstaff_http_request_duration_seconds_count",
                listener="llm", handler="llm_chat",
            )  # fmt: skip
            return done == 4

        s = scrape_until(gw.admin_url, complete)
    assert second.headers["x-plano-routing"] == "retained"
    assert replay.headers["x-plano-routing"] == "not_user_turn"
    assert served[0] == 200 and served[2]["models"][0] == "openai/o3"
    assert bad[0] == 400
    assert fallback.headers["x-plano-routing"] == "no_route"
    assert first.headers["x-plano-model"] == "openai/gpt-4o"

    def decisions(route: str, model: str, fell_back: str) -> float | None:
        return value(
            s, "brightstaff_router_decisions_total",
            route=route, selected_model=model, fallback=fell_back,
        )  # fmt: skip

    assert decisions("llm", "openai/gpt-4o", "false") == 2  # turns 1 and 2 (retained)
    assert decisions("llm", "openai/gpt-4o-mini", "true") == 1  # the requested model served
    assert decisions("routing", "openai/o3", "false") == 1
    duration = "brightstaff_router_decision_duration_seconds_count"
    assert value(s, duration, route="llm") == 3
    assert value(s, duration, route="routing") == 1
    assert value(s, "brightstaff_router_skips_total", reason="not_user_turn") == 1
    service = "brightstaff_routing_service_requests_total"
    assert value(s, service, outcome="decision_served") == 1
    assert value(s, service, outcome="bad_request") == 1
    cache = "brightstaff_session_cache_events_total"
    # misses: turn 1, the routing API's new session, the fallback's new session (not stored);
    # hits: turn 2 and the tool turn; stores: a decision and a refresh per served turn, and
    # the routing API's decision.
    assert value(s, cache, outcome="miss") == 3
    assert value(s, cache, outcome="hit") == 2
    assert value(s, cache, outcome="store") == 7
    assert value(s, cache, outcome="error") is None
    assert value(s, "brightstaff_session_binding_events_total", event="refresh") == 3
    switch = "brightstaff_session_switch_decisions_total"
    assert value(s, switch, decision="retained", reason="over_cap") == 1
    prompt = "brightstaff_prompt_cache_requests_total"
    assert value(s, prompt, provider="openai", model="gpt-4o", outcome="hit") == 1
    assert value(s, prompt, provider="openai", model="gpt-4o", outcome="miss") == 2
    assert value(s, prompt, provider="openai", model="gpt-4o-mini", outcome="miss") == 1
    assert value(s, "plano_routing_decisions_total", reason="not_user_turn") == 1  # kept


def test_agent_selection_counts_router_decisions(upstream: Any, gateway: GatewayFactory) -> None:
    with ExitStack() as stack:
        weather = stack.enter_context(run_mock_in_thread(default_text="It is sunny."))
        flight = stack.enter_context(run_mock_in_thread(default_text="AF1234 at 10:00."))
        for route in (["flight_agent"], []):
            text = json.dumps({"route": route})
            upstream.script({"model": "Plano-Orchestrator", "text": text})
        text = agent_config(
            upstream, weather.base_url, flight.base_url, orchestrator_url=upstream.base_url,
            router="routing: {router: {type: orchestrator}}",
        )  # fmt: skip
        with gateway(text) as gw:
            assert ask(gw, "Any flights from Paris to Rome?") == "AF1234 at 10:00."
            assert ask(gw, "Something no agent does") == "It is sunny."  # the default agent

            def complete(s: Samples) -> bool:
                count = "brightstaff_router_decision_duration_seconds_count"
                return value(s, count, route="agent") == 2

            s = scrape_until(gw.admin_url, complete)
    decisions = "brightstaff_router_decisions_total"
    assert value(s, decisions, route="agent", selected_model="flight_agent", fallback="false") == 1
    assert value(s, decisions, route="agent", selected_model="weather_agent", fallback="true") == 1
    assert value(s, "brightstaff_session_cache_events_total", outcome="miss") is None


def test_two_workers_report_every_workers_decisions(
    tmp_path: Path,
    upstream: Any,
    plano_up: Any,  # noqa: F811  (the imported fixture)
) -> None:
    port, admin_port = free_port(), free_port()
    cfg = tmp_path / "plano_config.yaml"
    routing = "routing: {router: {type: orchestrator}}"
    cfg.write_text(config(upstream, routing).replace("port: 0", f"port: {port}"))
    answer(upstream, '{"route": ["code_generation"]}', times=0)
    plano_up(cfg, "--workers", "2", "--admin-port", str(admin_port))
    base = f"http://127.0.0.1:{port}"
    body = {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "code"}]}
    for _ in range(6):
        with openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0) as c:
            c.chat.completions.create(**body)  # a new connection each: both workers serve
        assert post(f"{base}/routing/v1/chat/completions", json.dumps(body).encode())[0] == 200

    def complete(s: Samples) -> bool:
        count = "brightstaff_router_decision_duration_seconds_count"
        return value(s, count, route="llm") == 6 and value(s, count, route="routing") == 6

    s = scrape_until(f"http://127.0.0.1:{admin_port}", complete)
    decisions = "brightstaff_router_decisions_total"
    for route in ("llm", "routing"):
        labels = {"route": route, "selected_model": "openai/gpt-4o", "fallback": "false"}
        assert value(s, decisions, **labels) == 6
    assert value(s, "brightstaff_routing_service_requests_total", outcome="decision_served") == 6
