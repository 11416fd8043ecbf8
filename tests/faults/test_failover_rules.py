"""Failover rules beyond transport faults: malformed stream events, context-window and
content-policy errors, alias fallbacks, the circuit breaker and the listener's overload gate."""

from __future__ import annotations

import urllib.request
from collections.abc import Callable
from typing import Any

import openai
import pytest

from plano.runtime.serve import ThreadedGateway
from tests.conftest import GatewayFactory
from tests.faults.conftest import Leaks
from tests.faults.test_faults import HI, config, models_asked

pytestmark = pytest.mark.integration

Sdk = Callable[[ThreadedGateway], openai.OpenAI]


def served_by(gw: ThreadedGateway, sdk: Sdk, model: str = "gpt-4o") -> str:
    raw = sdk(gw).chat.completions.with_raw_response.create(model=model, messages=HI)
    assert raw.parse().choices[0].message.content
    return str(raw.headers["x-plano-model"])


def test_malformed_stream_event_ends_with_an_error_event(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "fault": "malformed_chunk", "chunks": 5})
    extra = "    validate_stream: true\n    stream_continuation: false"
    text = config(upstream.base_url, upstream.base_url, extra=extra)
    with gateway(text) as gw:
        leaks = Leaks(gw)
        client = sdk(gw)
        got: list[Any] = []
        with pytest.raises(openai.APIError) as caught:
            for chunk in client.chat.completions.create(model="gpt-4o", messages=HI, stream=True):
                got.append(chunk)
        client.close()
        leaks.assert_none()
    assert len(got) == 2  # the events before the malformed one, whole
    assert "malformed" in str(caught.value)
    assert models_asked(upstream) == ["gpt-4o"]


def test_context_window_error_goes_to_the_fallback(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script(
        {
            "model": "gpt-4o",
            "status": 400,
            "message": "This model's maximum context length is 8192 tokens",
        }
    )
    with gateway(config(upstream.base_url, upstream.base_url)) as gw:
        assert served_by(gw, sdk) == "openai/gpt-4o-mini"
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o-mini"]


def test_content_policy_error_is_not_routed_around_by_default(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "status": 400, "message": "flagged by content_filter"})
    with (
        gateway(config(upstream.base_url, upstream.base_url)) as gw,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        served_by(gw, sdk)
    assert "content_filter" in caught.value.message
    assert models_asked(upstream) == ["gpt-4o"]


def test_content_policy_failover_when_configured(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "status": 400, "message": "flagged by content_filter"})
    extra = "    fallback_on: [content_policy]"
    with gateway(config(upstream.base_url, upstream.base_url, extra=extra)) as gw:
        assert served_by(gw, sdk) == "openai/gpt-4o-mini"


def test_alias_fallbacks(upstream: Any, gateway: GatewayFactory, sdk: Sdk) -> None:
    text = f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-a
    base_url: {upstream.base_url}
  - model: openai/gpt-4o-mini
    access_key: sk-b
    base_url: {upstream.base_url}
model_aliases:
  smart: {{target: openai/gpt-4o, fallbacks: [openai/gpt-4o-mini]}}
"""
    upstream.script({"model": "gpt-4o", "status": 503})
    with gateway(text) as gw:
        assert served_by(gw, sdk, "smart") == "openai/gpt-4o-mini"
        upstream.script({"model": "gpt-4o", "status": 503})
        with pytest.raises(openai.InternalServerError):
            served_by(gw, sdk, "gpt-4o")  # no fallback without the alias
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o-mini", "gpt-4o"]


def hold_stream(gw: ThreadedGateway, sdk: Sdk, upstream: Any) -> Any:
    """A stream in flight on gpt-4o (its first chunk read; the rest far away)."""
    upstream.script({"model": "gpt-4o", "chunks": 3, "chunk_delay_ms": 3000})
    stream = sdk(gw).chat.completions.create(model="gpt-4o", messages=HI, stream=True)
    next(iter(stream))
    return stream


def test_full_circuit_breaker_sends_to_the_fallback(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    extra = "    circuit_breakers: {max_requests: 1}"
    with gateway(config(upstream.base_url, upstream.base_url, extra=extra)) as gw:
        stream = hold_stream(gw, sdk, upstream)
        assert served_by(gw, sdk) == "openai/gpt-4o-mini"
        stream.close()
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o-mini"]


def test_overloaded_listener_answers_503_at_once(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    text = config(upstream.base_url, upstream.base_url).replace(
        "timeout: 20s}",
        "timeout: 20s, overload: {max_concurrent_requests: 1, max_pending_requests: 0}}",
    )
    with gateway(text) as gw:
        leaks = Leaks(gw)
        stream = hold_stream(gw, sdk, upstream)
        other = sdk(gw)
        with pytest.raises(openai.InternalServerError) as caught:
            other.chat.completions.create(model="gpt-4o", messages=HI)
        assert caught.value.status_code == 503
        assert caught.value.response.headers["retry-after"] == "1"
        stream.close()
        other.close()
        leaks.assert_none()  # the held request has ended, so its slot is free again
        assert served_by(gw, sdk) == "openai/gpt-4o"
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o"]


def test_retries_failovers_and_ejections_are_counted(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "status": 503, "times": 0})
    with gateway(config(upstream.base_url, upstream.base_url)) as gw:
        assert served_by(gw, sdk) == "openai/gpt-4o-mini"
        with urllib.request.urlopen(f"{gw.admin_url}/metrics", timeout=10) as resp:
            text = resp.read().decode()
    assert 'plano_upstream_retries_total{model="gpt-4o",provider="openai"} 1.0' in text
    assert 'plano_upstream_failovers_total{model="gpt-4o-mini",provider="openai"} 1.0' in text


CROSS = """
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 20s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-a
    base_url: {url}
    default: true
    retry_policy: {{num_retries: 1, base_interval: 1ms, max_interval: 5ms}}
    fallbacks: [anthropic/claude-haiku-4-5]
  - model: anthropic/claude-haiku-4-5
    access_key: sk-ant
    base_url: {url}
"""


@pytest.mark.parametrize("stream", [False, True])
def test_fallback_in_another_dialect_is_translated(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk, stream: bool
) -> None:
    upstream.script({"model": "gpt-4o", "status": 503, "times": 0})
    with gateway(CROSS.format(url=upstream.base_url)) as gw:
        leaks = Leaks(gw)
        client = sdk(gw)
        if stream:
            chunks = client.chat.completions.create(model="gpt-4o", messages=HI, stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HI)
            assert raw.headers["x-plano-model"] == "anthropic/claude-haiku-4-5"
            text = raw.parse().choices[0].message.content or ""
        client.close()
        leaks.assert_none()
    assert text
    asked = [(r.path, r.body["model"]) for r in upstream.requests]
    assert asked == [
        ("/v1/chat/completions", "gpt-4o"),
        ("/v1/chat/completions", "gpt-4o"),
        ("/v1/messages", "claude-haiku-4-5"),
    ]
