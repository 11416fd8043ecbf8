"""Preference routing end to end, continued: prompt-caching markers and cache-warm stickiness,
the Anthropic SDK through routing, and routed bodies of other APIs (Responses, translated)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest

from tests.conftest import GatewayFactory
from tests.integration.test_model_listener import post
from tests.integration.test_routing import (
    ROUTER,
    _clients,
    _close_clients,
    answer,
    client,
    config,
    llm_requests,
    router_requests,
)

pytestmark = pytest.mark.integration
__all__ = ["_close_clients"]  # the autouse fixture, so clients made here are closed too


def test_prompt_caching_markers_and_cache_warm_stickiness(
    upstream: Any, gateway: GatewayFactory
) -> None:
    extra = "prompt_caching: {enabled: true, min_prefix_tokens: 1024}\n"
    text = config(upstream, extra=extra).replace(
        "  - model: openai/gpt-4o-mini\n",
        f"  - model: openrouter/anthropic/claude-3.5-sonnet\n    access_key: k\n"
        f"    base_url: {upstream.base_url}\n  - model: openai/gpt-4o-mini\n",
    )
    system = "You are a careful assistant. " * 200  # ~1400 tokens of stable prefix
    messages = [{"role": "system", "content": system}, {"role": "user", "content": "write code"}]
    answer(upstream, '{"route": ["code_generation"]}')
    answer(upstream, '{"route": ["casual_chat"]}')
    with gateway(text) as gw:
        c = client(gw)
        claude = c.chat.completions.with_raw_response.create(
            model="openrouter/anthropic/claude-3.5-sonnet",
            messages=messages,
            extra_body={"routing_preferences": []},
        )
        c.chat.completions.with_raw_response.create(
            model="openrouter/anthropic/claude-3.5-sonnet",
            messages=messages,
            extra_headers={"X-Plano-Cache": "off"},
            extra_body={"routing_preferences": []},
        )
        first = c.chat.completions.with_raw_response.create(
            model="openai/gpt-4o-mini", messages=messages
        )
        second = c.chat.completions.with_raw_response.create(
            model="openai/gpt-4o-mini", messages=messages
        )
    sent = llm_requests(upstream)
    assert claude.headers["x-plano-model"] == "openrouter/anthropic/claude-3.5-sonnet"
    assert sent[0].body["messages"][0]["content"] == [
        {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
    ]
    assert len(sent[0].headers["x-plano-prefix-hash"]) == 16
    assert sent[1].body["messages"][0]["content"] == system  # X-Plano-Cache: off
    assert "x-plano-prefix-hash" not in sent[1].headers
    # gpt-4o upstream caches automatically: no markers; the warm session sticks to its model.
    assert sent[2].body["messages"][0]["content"] == system
    assert first.headers["x-plano-model"] == "openai/gpt-4o"
    assert second.headers["x-plano-model"] == "openai/gpt-4o"
    assert second.headers["x-plano-routing"] == "cache_warm"


def test_anthropic_sdk_routed_with_cache_markers(upstream: Any, gateway: GatewayFactory) -> None:
    text = f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 5s}}
model_providers:
  - model: anthropic/claude-sonnet-4-6
    access_key: sk-ant-secret
    base_url: {upstream.base_url}
    default: true
  - model: anthropic/claude-haiku-4-5
    access_key: sk-ant-secret
    base_url: {upstream.base_url}
  - model: plano/{ROUTER}
    base_url: {upstream.base_url}
routing_preferences:
  - name: code_generation
    description: generating new code snippets, functions, or boilerplate
    models: [anthropic/claude-sonnet-4-6]
prompt_caching: {{enabled: true}}
"""
    answer(upstream, '{"route": ["code_generation"]}')
    system = "You review code carefully. " * 200
    with gateway(text) as gw:
        c = anthropic.Anthropic(base_url=gw.url(), api_key="client-key", max_retries=0)
        _clients.append(c)
        raw = c.messages.with_raw_response.create(
            model="anthropic/claude-haiku-4-5",
            max_tokens=64,
            system=system,
            messages=[{"role": "user", "content": "write a parser in Go"}],
            extra_headers={"X-Model-Affinity": "anthropic-session"},
        )
    assert raw.parse().content[0].type == "text"
    assert raw.headers["x-plano-model"] == "anthropic/claude-sonnet-4-6"
    assert raw.headers["x-plano-route"] == "code_generation"
    (sent,) = llm_requests(upstream)
    assert sent.path == "/v1/messages"
    assert sent.body["model"] == "claude-sonnet-4-6"
    assert sent.body["system"] == [
        {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
    ]
    assert sent.body["messages"][-1]["content"] == [
        {"type": "text", "text": "write a parser in Go", "cache_control": {"type": "ephemeral"}}
    ]
    prompt = router_requests(upstream)[0].body["messages"][0]["content"]
    assert '"content": "write a parser in Go"' in prompt and "review code" not in prompt


def test_routing_decision_api_responses_with_inline_prefs(
    upstream: Any, gateway: GatewayFactory
) -> None:
    answer(upstream, '{"route": ["summaries"]}')
    body = {
        "model": "openai/gpt-4o",
        "instructions": "be short",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "tl;dr this"}]}],
        "routing_preferences": [
            {
                "name": "summaries",
                "description": "summarising text",
                "models": ["openai/gpt-4o-mini", "openai/gpt-4o"],
            }
        ],
    }
    with gateway(config(upstream)) as gw:
        status, _, doc = post(f"{gw.url()}/routing/v1/responses", json.dumps(body).encode())
        bad_status, _, bad = post(f"{gw.url()}/routing/v1/responses", b"not json")
    assert status == 200
    assert doc["models"] == ["openai/gpt-4o-mini", "openai/gpt-4o"]
    assert doc["route"] == "summaries"
    prompt = router_requests(upstream)[0].body["messages"][0]["content"]
    assert '"content": "tl;dr this"' in prompt and "be short" not in prompt
    assert bad_status == 400 and bad["error"]["code"] == "invalid_json"


def test_translated_request_gets_cache_markers(upstream: Any, gateway: GatewayFactory) -> None:
    """An OpenAI chat client reaching Anthropic (translated to Messages) gets the markers in
    the Messages body the provider receives."""
    text = f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 5s}}
model_providers:
  - model: anthropic/claude-sonnet-4-6
    access_key: sk-ant-secret
    base_url: {upstream.base_url}
    default: true
prompt_caching: {{enabled: true}}
"""
    system = "You review code carefully. " * 200
    with gateway(text) as gw:
        reply = client(gw).chat.completions.create(
            model="anthropic/claude-sonnet-4-6",
            messages=[
                {"role": "system", "content": system},
                {"role": "user", "content": "write a parser in Go"},
            ],
        )
    assert reply.choices[0].message.content
    (sent,) = llm_requests(upstream)
    assert sent.path == "/v1/messages"
    assert sent.body["system"] == [
        {"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}
    ]
    assert sent.body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
