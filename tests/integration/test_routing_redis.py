"""Session affinity shared through the real Redis at 127.0.0.1:6379: two gateways, a dropped
connection, and Redis unreachable (routing goes on without stickiness)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis

from plano.state.session_cache import KEY_PREFIX, client_name
from tests.conftest import GatewayFactory
from tests.integration.test_metrics import plano_up, scrape_until, value  # noqa: F401
from tests.integration.test_model_listener import post
from tests.integration.test_processes import free_port
from tests.integration.test_routing import answer, chat, config, router_requests

pytestmark = pytest.mark.integration


def redis_config(upstream: Any, url: str = "redis://127.0.0.1:6379/0") -> str:
    routing = f"""routing:
  session_ttl_seconds: 60
  session_cache: {{type: redis, url: "{url}", tenant_header: x-tenant}}"""
    return config(upstream, routing)


@pytest.fixture
def direct() -> Any:
    r = redis.Redis(host="127.0.0.1", port=6379)
    yield r
    r.close()


def test_pin_is_shared_by_two_gateways(upstream: Any, gateway: GatewayFactory, direct: Any) -> None:
    session = f"redis-{uuid.uuid4()}"
    headers = {"X-Model-Affinity": session, "x-tenant": "acme"}
    answer(upstream, '{"route": ["code_generation"]}')
    answer(upstream, '{"route": ["casual_chat"]}')
    text = redis_config(upstream)
    try:
        with gateway(text) as one, gateway(text) as two:
            first = chat(one, "write a sort function", extra_headers=headers)
            second = chat(two, "hello, how are you?", extra_headers=headers)
        stored = json.loads(direct.get(f"{KEY_PREFIX}acme:{session}"))
        ttl = direct.ttl(f"{KEY_PREFIX}acme:{session}")
    finally:
        direct.delete(f"{KEY_PREFIX}acme:{session}")
    assert first.headers["x-plano-model"] == "openai/gpt-4o"
    assert second.headers["x-plano-model"] == "openai/gpt-4o"
    assert second.headers["x-plano-routing"] == "pinned"
    assert stored["anchor_model"] == "openai/gpt-4o"
    assert stored["route_name"] == "code_generation"
    # Refreshed after the pinned turn with the upstream's real prompt size.
    prompt_tokens = second.parse().usage.prompt_tokens
    assert stored["cached_tokens"] == prompt_tokens > 0
    assert stored["history"][-1][0] == "openai/gpt-4o" and stored["history"][-1][2] == prompt_tokens
    assert 0 < ttl <= 60
    assert len(router_requests(upstream)) == 1


def test_reconnects_after_the_connection_drops(
    upstream: Any, gateway: GatewayFactory, direct: Any
) -> None:
    session = f"redis-{uuid.uuid4()}"
    headers = {"X-Model-Affinity": session, "x-tenant": "acme"}
    answer(upstream, '{"route": ["code_generation"]}')
    try:
        with gateway(redis_config(upstream)) as gw:
            chat(gw, "write a sort function", extra_headers=headers)
            ours = [c for c in direct.client_list() if c.get("name") == client_name()]
            assert ours
            for c in ours:  # what a Redis restart does to the gateway's connections
                direct.client_kill_filter(_id=c["id"])
            after = [chat(gw, "hello there", extra_headers=headers) for _ in range(2)]
    finally:
        direct.delete(f"{KEY_PREFIX}acme:{session}")
    # The first request after the drop may find the connection dead (fail open: no pin);
    # the client reconnects by itself and the pin is back by the next one at the latest.
    assert after[-1].headers["x-plano-routing"] == "pinned"
    assert after[-1].headers["x-plano-model"] == "openai/gpt-4o"


def test_redis_down_routes_without_stickiness(
    upstream: Any, gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"X-Model-Affinity": f"redis-{uuid.uuid4()}"}
    answer(upstream, '{"route": ["code_generation"]}')
    answer(upstream, '{"route": ["casual_chat"]}')
    with gateway(redis_config(upstream, "redis://127.0.0.1:9/0")) as gw:
        first = chat(gw, "write a sort function", extra_headers=headers)
        second = chat(gw, "hello, how are you?", extra_headers=headers)
        samples = scrape_until(
            gw.admin_url,
            lambda s: value(s, "plano_session_cache_errors_total", backend="redis") == 2,
        )
    assert value(samples, "plano_session_cache_errors_total", backend="redis") == 2
    assert value(samples, "plano_routing_decisions_total", reason="routed") == 2
    events = "brightstaff_session_cache_events_total"
    assert value(samples, events, outcome="error") == 2  # each lookup
    assert value(samples, events, outcome="store_error") == 4  # each decision and refresh
    assert value(samples, events, outcome="hit") is None
    assert first.headers["x-plano-model"] == "openai/gpt-4o"
    assert second.headers["x-plano-model"] == "openai/gpt-4o-mini"  # routed, not pinned
    assert second.headers["x-plano-routing"] == "routed"
    assert any("without stickiness" in r.getMessage() for r in caplog.records)


def test_two_worker_processes_share_pins(
    tmp_path: Path,
    upstream: Any,
    plano_up: Any,  # noqa: F811 (the fixture imported above)
    direct: Any,
) -> None:
    """`plano up --workers 2`: the kernel spreads connections over both processes; a pin made by
    one is honoured by the other only through Redis."""
    port = free_port()
    cfg = tmp_path / "plano_config.yaml"
    cfg.write_text(
        redis_config(upstream)
        .replace("port: 0", f"port: {port}")
        .replace("timeout: 5s", "timeout: 20s")
    )
    session = f"redis-{uuid.uuid4()}"
    headers = {"X-Model-Affinity": session, "content-type": "application/json"}
    answer(upstream, '{"route": ["code_generation"]}')
    answer(upstream, '{"route": ["casual_chat"]}', times=0)
    plano_up(cfg, "--workers", "2", "--admin-port", "off")
    base = f"http://127.0.0.1:{port}"
    body = json.dumps(
        {"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    try:
        served = [post(f"{base}/v1/chat/completions", body, headers)[1] for _ in range(17)]
    finally:
        direct.delete(f"{KEY_PREFIX}{session}")
    assert {h["x-plano-model"] for h in served} == {"openai/gpt-4o"}
    assert [h["x-plano-routing"] for h in served[1:]] == ["pinned"] * 16
    workers = {h["x-request-id"][:16] for h in served}  # a random prefix per process
    assert len(workers) == 2, workers
