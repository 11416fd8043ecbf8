"""Gateway keys end to end with the official SDKs: 401/403/429 in each client's dialect, both
key headers, passthrough_auth never seeing the gateway key, revocation, rotation, the admin API."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any

import anthropic
import openai
import pytest

from plano.mock.script import ReplySpec
from plano.mock.testing import run_mock_in_thread
from plano.observability import names as n
from plano.observability.metrics import build_metrics
from plano.observability.otel_spans import OtelTracing
from plano.observability.telemetry import Telemetry
from tests.conftest import GatewayFactory
from tests.integration.keys_support import ADMIN_TOKEN, admin, ask, create_key, keys_config
from tests.integration.test_cost import Spans

pytestmark = pytest.mark.integration


def test_requests_without_a_valid_key_get_401_in_their_dialect(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with gateway(keys_config(upstream)) as gw:
        for bad in ("totally-bogus", "pk-0123456789ab-nope", "pk-"):
            with pytest.raises(openai.AuthenticationError) as oe:
                ask(gw.url(), bad)
            assert oe.value.status_code == 401
            assert _body(oe.value)["code"] == "invalid_api_key"
        with (
            anthropic.Anthropic(base_url=gw.url(), api_key="nope", max_retries=0) as ac,
            pytest.raises(anthropic.AuthenticationError) as ae,
        ):
            ac.messages.create(
                model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
        assert _body(ae.value)["type"] == "error"
        assert _body(ae.value)["error"]["type"] == "authentication_error"
    assert upstream.requests == []  # nothing reached the provider


def test_a_key_works_with_bearer_and_x_api_key(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(keys_config(upstream)) as gw:
        _, key = create_key(gw.admin_url, name="team-a", team="a")
        assert ask(gw.url(), key).choices[0].message.content
        with anthropic.Anthropic(base_url=gw.url(), api_key=key, max_retries=0) as ac:
            msg = ac.messages.create(
                model="gpt-4o", max_tokens=10, messages=[{"role": "user", "content": "x"}]
            )
        assert msg.content
        seen = upstream.requests
        assert len(seen) == 2
        for r in seen:
            assert r.headers["authorization"] == "Bearer sk-provider"
            assert key not in str(r.headers)


def test_streams_are_charged_to_the_key(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script(ReplySpec(usage=(10, 10), times=0))
    with gateway(keys_config(upstream)) as gw:
        key_id, key = create_key(gw.admin_url, budget=10, period="month")
        chunks = list(ask(gw.url(), key, stream=True, stream_options={"include_usage": True}))
        assert chunks[-1].usage is not None
        deadline = time.monotonic() + 30
        while admin(gw.admin_url, "GET", f"/admin/keys/{key_id}")[1]["spent_usd"] != (
            pytest.approx(0.03)
        ):
            assert time.monotonic() < deadline


def test_a_key_restricted_to_one_model_gets_403_on_another(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with gateway(keys_config(upstream)) as gw:
        _, key = create_key(gw.admin_url, models=["openai/gpt-4o"])
        assert ask(gw.url(), key, "gpt-4o").choices  # bare id of an allowed model
        assert ask(gw.url(), key, "smart").choices  # an alias that resolves to it
        with pytest.raises(openai.PermissionDeniedError) as e:
            ask(gw.url(), key, "gpt-4o-mini")
        assert "may not use this model" in e.value.message
        with (
            anthropic.Anthropic(base_url=gw.url(), api_key=key, max_retries=0) as ac,
            pytest.raises(anthropic.PermissionDeniedError) as ae,
        ):
            ac.messages.create(
                model="gpt-4o-mini", max_tokens=5, messages=[{"role": "user", "content": "x"}]
            )
        assert _body(ae.value)["error"]["type"] == "permission_error"
        assert len(upstream.requests) == 2
        _, globbed = create_key(gw.admin_url, models=["openai/gpt-4o*"])
        assert ask(gw.url(), globbed, "gpt-4o-mini").choices


def test_models_list_needs_a_key_and_shows_what_it_may_use(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with gateway(keys_config(upstream)) as gw:
        with (
            openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="x", max_retries=0) as anon,
            pytest.raises(openai.AuthenticationError),
        ):
            anon.models.list()
        _, narrow = create_key(gw.admin_url, models=["openai/gpt-4o-mini", "gpt-4.1"])
        _, aliased = create_key(gw.admin_url, models=["openai/gpt-4o"])
        _, wide = create_key(gw.admin_url)
        with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key=narrow, max_retries=0) as c:
            assert sorted(m.id for m in c.models.list()) == [
                "openai/gpt-4.1",
                "openai/gpt-4o-mini",
            ]
        with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key=aliased, max_retries=0) as c:
            # An alias is listed for a key that may use the model it resolves to.
            assert sorted(m.id for m in c.models.list()) == ["openai/gpt-4o", "smart"]
        with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key=wide, max_retries=0) as c:
            assert len(list(c.models.list())) == 4  # the alias `smart` too


def test_passthrough_auth_never_forwards_the_gateway_key(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with gateway(keys_config(upstream)) as gw:
        _, key = create_key(gw.admin_url)
        ask(gw.url(), key, "gpt-4.1", extra_headers={"x-api-key": "sk-client-own"})
        got = upstream.requests[-1]
        assert got.headers["authorization"] == "Bearer sk-client-own"
        assert all(key not in v and "pk-" not in v for v in got.headers.values())
        upstream.clear()
        # The gateway key alone: the provider gets no credential at all, never the key.
        ask(gw.url(), key, "gpt-4.1")
        got = upstream.requests[-1]
        assert all(key not in v for v in got.headers.values())


def test_revoke_and_rotate_through_the_admin_api(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(keys_config(upstream)) as gw:
        key_id, key = create_key(gw.admin_url, name="rotating")
        assert ask(gw.url(), key).choices
        status, doc = admin(gw.admin_url, "POST", f"/admin/keys/{key_id}/rotate")
        assert status == 200 and doc["key"] != key and doc["key"].startswith(f"pk-{key_id}-")
        new = doc["key"]
        assert ask(gw.url(), new).choices
        _refused_within(gw.url(), key, 5.0)
        status, doc = admin(gw.admin_url, "DELETE", f"/admin/keys/{key_id}")
        assert status == 200 and doc["revoked_at"]
        _refused_within(gw.url(), new, 5.0)
        status, listing = admin(gw.admin_url, "GET", "/admin/keys")
        assert status == 200 and [k["id"] for k in listing["data"]] == [key_id]
        assert "secret_hash" not in listing["data"][0] and "key" not in listing["data"][0]


def _refused_within(base: str, key: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            ask(base, key)
        except openai.AuthenticationError:
            return
        assert time.monotonic() < deadline, "the key still works"


def test_admin_api_needs_the_admin_token(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(keys_config(upstream)) as gw:
        assert admin(gw.admin_url, "GET", "/admin/keys", token=None)[0] == 401
        assert admin(gw.admin_url, "GET", "/admin/keys", token=ADMIN_TOKEN + "x")[0] == 401
        status, doc = admin(gw.admin_url, "POST", "/admin/keys", {"name": "x", "rpm": -1})
        assert status == 400 and "rpm" in doc["error"]["message"]
        assert admin(gw.admin_url, "GET", "/admin/keys/0123456789ab")[0] == 404
        # Never on a public listener.
        req = urllib.request.Request(gw.url() + "/admin/keys", method="GET")
        req.add_header("authorization", f"Bearer {ADMIN_TOKEN}")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        with e.value:
            assert e.value.code == 404


def test_rate_limit_per_key_gives_429_with_retry_after(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with gateway(keys_config(upstream)) as gw:
        _, key = create_key(gw.admin_url, rpm=2)
        _, other = create_key(gw.admin_url, name="other", rpm=2)
        ask(gw.url(), key)
        ask(gw.url(), key)
        with pytest.raises(openai.RateLimitError) as e:
            ask(gw.url(), key)
        assert int(e.value.response.headers["retry-after"]) >= 1
        assert ask(gw.url(), other).choices  # each key has its own bucket
        assert len(upstream.requests) == 3
        _, tokens = create_key(gw.admin_url, name="tokens", tpm=50)
        with (
            openai.OpenAI(base_url=f"{gw.url()}/v1", api_key=tokens, max_retries=0) as c,
            pytest.raises(openai.RateLimitError) as e2,
        ):
            c.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "x" * 400}]
            )
        assert "50 tokens per minute" in e2.value.message
        assert len(upstream.requests) == 3


def test_an_expired_key_gets_401(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(keys_config(upstream)) as gw:
        _, key = create_key(gw.admin_url, name="old", expires="2020-01-01")
        with pytest.raises(openai.AuthenticationError) as e:
            ask(gw.url(), key)
        assert "gateway key 'old' is expired" in e.value.message
        assert key not in e.value.message


def test_budget_stops_the_key_after_the_request_that_crossed_it(
    upstream: Any, gateway: GatewayFactory
) -> None:
    # gpt-4o costs $1000/$2000 per M tokens: 10 + 10 tokens cost $0.03; a $0.05 budget serves
    # two requests (the second crosses it), then refuses without calling the provider.
    upstream.script(ReplySpec(usage=(10, 10), times=0))
    with gateway(keys_config(upstream)) as gw:
        key_id, key = create_key(gw.admin_url, budget=0.05, period="day", alert_at=0.5)
        assert ask(gw.url(), key).choices
        assert ask(gw.url(), key).choices
        with pytest.raises(openai.RateLimitError) as e:
            ask(gw.url(), key)
        assert "budget" in e.value.message
        assert len(upstream.requests) == 2
        deadline = time.monotonic() + 30
        while True:  # settled in the background, after each answer
            status, shown = admin(gw.admin_url, "GET", f"/admin/keys/{key_id}")
            assert status == 200
            if shown["spent_usd"] == pytest.approx(0.06):
                break
            assert time.monotonic() < deadline, shown
        with urllib.request.urlopen(f"{gw.admin_url}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
    assert 'plano_key_requests_total{key="k",outcome="allowed",team=""} 2.0' in metrics
    assert 'plano_key_requests_total{key="k",outcome="budget_exhausted",team=""} 1.0' in metrics
    assert 'plano_key_budget_alerts_total{key="k",team=""} 1.0' in metrics


def _body(err: Any) -> dict[str, Any]:
    body: dict[str, Any] = err.body
    return body


def test_agent_listeners_need_a_key_and_never_forward_it(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with run_mock_in_thread() as agent:
        text = f"""
version: v0.3.0
agents: [{{id: only, url: {agent.base_url}}}]
listeners:
  - {{type: agent, name: a, address: 127.0.0.1, port: 0, agents: [{{id: only, description: x}}]}}
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
model_providers:
  - {{model: openai/gpt-4o, access_key: k, base_url: {upstream.base_url}, default: true}}
access:
  keys: {{enabled: true, admin_token: {ADMIN_TOKEN}}}
"""
        with gateway(text) as gw:
            base = gw.url("agent")
            with pytest.raises(openai.AuthenticationError):
                ask(base, "nope")
            assert agent.requests == []
            _, key = create_key(gw.admin_url, name="agent-user")
            assert ask(base, key).choices
            got = agent.requests[-1]
            assert all(key not in v for v in got.headers.values())


def test_spans_carry_the_key_name_team_and_budget_alert(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script(ReplySpec(usage=(10, 10), times=0))
    spans = Spans()
    telemetry = Telemetry(metrics=build_metrics(), tracing=OtelTracing(spans))
    with gateway(keys_config(upstream), telemetry=telemetry) as gw:
        key_id, key = create_key(
            gw.admin_url, name="search-team", team="search", budget=1, alert_at=0.025
        )
        ask(gw.url(), key, max_tokens=10)  # reserves $0.021: below $0.025
        deadline = time.monotonic() + 30
        while admin(gw.admin_url, "GET", f"/admin/keys/{key_id}")[1]["spent_usd"] != (
            pytest.approx(0.03)
        ):
            assert time.monotonic() < deadline
        ask(gw.url(), key, max_tokens=10)  # $0.03 spent: past the alert threshold
    got = [s["attributes"] for s in spans.decoded() if n.ATTR_KEY_NAME in s["attributes"]]
    assert [a[n.ATTR_KEY_NAME] for a in got] == ["search-team", "search-team"]
    assert all(a[n.ATTR_KEY_TEAM] == "search" for a in got)
    assert [a.get(n.ATTR_KEY_BUDGET_ALERT) for a in got] == [None, True]
    assert all(key not in json.dumps(a) for a in got)
