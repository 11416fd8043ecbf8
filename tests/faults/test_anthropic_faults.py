"""The same resilience seen by an Anthropic client: a retried 529, and a stream cut mid-way that
ends with Anthropic's `event: error` (parsed by the official SDK)."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from tests.conftest import GatewayFactory
from tests.faults.conftest import Leaks

pytestmark = pytest.mark.integration


def config(upstream: Any, extra: str = "") -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 20s}}
model_providers:
  - model: anthropic/claude-sonnet-4-6
    access_key: sk-ant
    base_url: {upstream.base_url}
    default: true
    retry_policy: {{num_retries: 1, base_interval: 1ms, max_interval: 5ms}}
    fallbacks: [anthropic/claude-haiku-4-5]
{extra}
  - model: anthropic/claude-haiku-4-5
    access_key: sk-ant
    base_url: {upstream.base_url}
"""


def test_overloaded_529_then_fallback(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"model": "claude-sonnet-4-6", "status": 529, "times": 0})
    with (
        gateway(config(upstream)) as gw,
        anthropic.Anthropic(base_url=gw.url(), api_key="k", max_retries=0) as client,
    ):
        raw = client.messages.with_raw_response.create(
            model="claude-sonnet-4-6", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.parse().content[0].text  # type: ignore[union-attr]
        assert raw.headers["x-plano-model"] == "anthropic/claude-haiku-4-5"
    models = [r.body["model"] for r in upstream.requests]
    assert models == ["claude-sonnet-4-6", "claude-sonnet-4-6", "claude-haiku-4-5"]


def test_stream_cut_midway_ends_with_an_error_event(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"fault": "disconnect_mid_stream", "fault_after_chunks": 3})
    opt_out = "    stream_continuation: false"  # continued: tests/faults/test_stream_*.py
    with gateway(config(upstream, opt_out)) as gw:
        leaks = Leaks(gw)
        client = anthropic.Anthropic(base_url=gw.url(), api_key="k", max_retries=0)
        events: list[Any] = []
        with (
            pytest.raises(anthropic.APIStatusError),
            client.messages.stream(
                model="claude-sonnet-4-6",
                max_tokens=50,
                messages=[{"role": "user", "content": "hi"}],
            ) as stream,
        ):
            for event in stream:
                events.append(event)
        client.close()
        leaks.assert_none()
    assert events  # it had started
    assert len(upstream.requests) == 1  # never retried after the first byte
