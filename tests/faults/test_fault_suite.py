"""The fault suite of issue 15, one test per fault, through the official OpenAI and Anthropic SDKs:
the complete answer (or the right error) reaches the client, the upstream attempts are counted at
the mock (nothing is hammered, no 400 is retried), and nothing is left behind. Faults covered in
the neighbouring modules are not repeated here (reset before the head and an upstream that never
answers: test_faults.py; context window and content filter: test_failover_rules.py)."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import Any

import anthropic
import openai
import pytest

from plano.mock.testing import run_mock_in_thread
from plano.runtime.serve import ThreadedGateway
from tests.conftest import GatewayFactory
from tests.faults.conftest import Leaks
from tests.faults.test_faults import HI, models_asked

pytestmark = pytest.mark.integration

Sdk = Callable[[ThreadedGateway], openai.OpenAI]
HOLD_MS = 20_000  # a first token this late is never waited for
RETRY = "{num_retries: 1, base_interval: 1ms, max_interval: 5ms, max_retry_after: 2s}"


def suite_config(
    primary: str,
    fallback: str,
    *,
    retry: str = RETRY,
    provider: str = "",
    fallbacks: str = "[openai/gpt-4o-mini]",
    api: str = "openai",
) -> str:
    big, small = (
        ("gpt-4o", "gpt-4o-mini") if api == "openai" else ("claude-sonnet-4-6", "claude-haiku-4-5")
    )
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 20s}}
model_providers:
  - model: {api}/{big}
    access_key: sk-a
    base_url: {primary}
    default: true
    retry_policy: {retry}
    fallbacks: {fallbacks.replace("openai/gpt-4o-mini", f"{api}/{small}")}
{provider}
  - model: {api}/{small}
    access_key: sk-b
    base_url: {fallback}
"""


def metrics(gw: ThreadedGateway) -> str:
    with urllib.request.urlopen(f"{gw.admin_url}/metrics", timeout=10) as resp:
        return str(resp.read().decode())


def ask(gw: ThreadedGateway, sdk: Sdk, **kw: Any) -> tuple[Any, Any]:
    raw = sdk(gw).chat.completions.with_raw_response.create(model="gpt-4o", messages=HI, **kw)
    return raw.parse(), raw.headers


def test_429_with_retry_after_once_is_retried_after_the_wait(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "status": 429, "retry_after": "1"})
    with gateway(suite_config(upstream.base_url, upstream.base_url)) as gw:
        began = time.monotonic()
        answer, headers = ask(gw, sdk)
        waited = time.monotonic() - began
    assert answer.choices[0].message.content
    assert headers["x-plano-model"] == "openai/gpt-4o"
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o"]
    assert waited >= 0.9  # Retry-After was honoured (a lower bound, not a timing race)


def test_persistent_429_goes_to_the_fallback_once_per_request(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "status": 429, "retry_after": "30", "times": 0})
    with gateway(suite_config(upstream.base_url, upstream.base_url)) as gw:
        for _ in range(3):
            answer, headers = ask(gw, sdk)
            assert answer.choices[0].message.content
            assert headers["x-plano-model"] == "openai/gpt-4o-mini"
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o-mini"] * 3


def test_persistent_429_without_fallback_reaches_the_client_with_retry_after(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "status": 429, "retry_after": "30", "times": 0})
    retry = "{num_retries: 3, base_interval: 1ms, max_interval: 5ms, max_retry_after: 10ms}"
    text = suite_config(upstream.base_url, upstream.base_url, retry=retry, fallbacks="[]")
    with gateway(text) as gw, pytest.raises(openai.RateLimitError) as caught:
        ask(gw, sdk)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "30"
    assert models_asked(upstream) == ["gpt-4o"] * 4  # 1 + num_retries, then the 429


def test_500_once_is_retried(upstream: Any, gateway: GatewayFactory, sdk: Sdk) -> None:
    upstream.script({"model": "gpt-4o", "status": 500})
    with gateway(suite_config(upstream.base_url, upstream.base_url)) as gw:
        answer, headers = ask(gw, sdk)
    assert answer.choices[0].message.content
    assert headers["x-plano-model"] == "openai/gpt-4o"
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o"]


@pytest.mark.parametrize("stream", [False, True])
def test_persistent_503_is_served_by_the_fallback_with_its_model_and_usage(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk, stream: bool
) -> None:
    upstream.script({"model": "gpt-4o", "status": 503, "times": 0})
    upstream.script({"model": "gpt-4o-mini", "usage": {"prompt_tokens": 7, "completion_tokens": 3}})
    with gateway(suite_config(upstream.base_url, upstream.base_url)) as gw:
        leaks = Leaks(gw)
        client = sdk(gw)
        if stream:
            opts: dict[str, Any] = {"stream_options": {"include_usage": True}}
            with client.chat.completions.with_streaming_response.create(
                model="gpt-4o", messages=HI, stream=True, **opts
            ) as raw:
                served = raw.headers["x-plano-model"]
                chunks = list(raw.parse())
            model = chunks[0].model
            usage = chunks[-1].usage
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            answer, headers = ask(gw, sdk)
            served, model, usage = headers["x-plano-model"], answer.model, answer.usage
            text = answer.choices[0].message.content
        client.close()
        leaks.assert_none()
    assert text
    assert served == "openai/gpt-4o-mini"
    assert model.startswith("gpt-4o-mini")
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (7, 3)
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o", "gpt-4o-mini"]


def test_first_token_after_20s_is_served_by_the_fallback_without_retrying_the_primary(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    with run_mock_in_thread() as slow:
        # the head and the role chunk at once, the first content 20 s later
        slow.script({"chunks": 3, "chunk_delay_ms": HOLD_MS, "times": 0})
        text = suite_config(slow.base_url, upstream.base_url, provider=FIRST_TOKEN)
        with gateway(text) as gw:
            leaks = Leaks(gw)
            client = sdk(gw)
            began = time.monotonic()
            with client.chat.completions.with_streaming_response.create(
                model="gpt-4o", messages=HI, stream=True
            ) as raw:
                served = raw.headers["x-plano-model"]
                out = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
            took = time.monotonic() - began
            client.close()
            leaks.assert_none()
            counted = metrics(gw)
        primary_asked = len(slow.requests)
    assert out
    assert served == "openai/gpt-4o-mini"
    assert took < HOLD_MS / 1000 / 2  # well before the primary's first token
    assert primary_asked == 1  # the slow primary is not retried
    assert models_asked(upstream) == ["gpt-4o-mini"]
    line = 'plano_upstream_first_token_timeouts_total{model="gpt-4o",provider="openai"} 1.0'
    assert line in counted


FIRST_TOKEN = "    timeouts: {first_token: 500ms}"


def test_first_token_stall_seen_by_an_anthropic_client(
    upstream: Any, gateway: GatewayFactory
) -> None:
    """Anthropic's preamble (message_start) arrives at once; the first text 20 s later."""
    with run_mock_in_thread() as slow:
        slow.script({"chunks": 3, "chunk_delay_ms": HOLD_MS, "times": 0})
        text = suite_config(slow.base_url, upstream.base_url, provider=FIRST_TOKEN, api="anthropic")
        with (
            gateway(text) as gw,
            anthropic.Anthropic(base_url=gw.url(), api_key="k", max_retries=0) as client,
        ):
            leaks = Leaks(gw)
            with client.messages.stream(
                model="claude-sonnet-4-6", max_tokens=50, messages=HI
            ) as stream:
                out = "".join(stream.text_stream)
            leaks.assert_none()
        primary_asked = len(slow.requests)
    assert out
    assert primary_asked == 1
    assert models_asked(upstream) == ["claude-haiku-4-5"]


def test_content_filter_400_is_not_retried_and_keeps_its_reason_for_anthropic_clients(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script(
        {"model": "claude-sonnet-4-6", "status": 400, "message": "output blocked by content_filter"}
    )
    text = suite_config(upstream.base_url, upstream.base_url, api="anthropic")
    with (
        gateway(text) as gw,
        anthropic.Anthropic(base_url=gw.url(), api_key="k", max_retries=0) as client,
        pytest.raises(anthropic.BadRequestError) as caught,
    ):
        client.messages.create(model="claude-sonnet-4-6", max_tokens=50, messages=HI)
    assert caught.value.status_code == 400
    assert "content_filter" in str(caught.value)
    assert isinstance(caught.value.body, dict) and caught.value.body.get("type") == "error"
    assert models_asked(upstream) == ["claude-sonnet-4-6"]


HEALTH = "    health: {consecutive_failures: 3, open_for: 3s}"


def test_a_down_primary_is_skipped_then_returns_when_it_heals(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    with run_mock_in_thread() as primary:
        primary.script({"status": 503, "times": 0})
        text = suite_config(primary.base_url, upstream.base_url, provider=HEALTH)
        with gateway(text) as gw:
            leaks = Leaks(gw)
            for _ in range(20):
                answer, headers = ask(gw, sdk)
                assert answer.choices[0].message.content
                assert headers["x-plano-model"] == "openai/gpt-4o-mini"
            down_hits = len(primary.requests)
            # heal it through the mock's control API
            base = primary.base_url.rsplit("/v1", 1)[0]
            heal = urllib.request.Request(f"{base}/_mock/script", method="DELETE")
            urllib.request.urlopen(heal, timeout=10).close()
            end = time.monotonic() + 15
            while ask(gw, sdk)[1]["x-plano-model"] != "openai/gpt-4o":
                assert time.monotonic() < end, "the primary never came back"
            for _ in range(3):
                assert ask(gw, sdk)[1]["x-plano-model"] == "openai/gpt-4o"
            leaks.assert_none()
            counted = metrics(gw)
    assert down_hits == 3  # consecutive_failures, not 2 per request
    assert 'plano_upstream_circuit_state{provider="openai/gpt-4o"} 0.0' in counted
    assert 'plano_upstream_circuit_changes_total{provider="openai/gpt-4o",state="open"}' in counted
    assert 'plano_upstream_health_skips_total{model="gpt-4o",provider="openai"}' in counted


@pytest.mark.parametrize("retries", [0, 1])
def test_a_reused_connection_closed_without_an_answer_is_not_resent(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk, retries: int
) -> None:
    """The upstream holds the POST 2 s on a reused connection, then closes without answering:
    the pool does not resend it; the retry policy decides, and its retry is counted."""
    retry = f"{{num_retries: {retries}, base_interval: 1ms, max_interval: 5ms}}"
    text = suite_config(upstream.base_url, upstream.base_url, retry=retry, fallbacks="[]")
    with gateway(text) as gw:
        leaks = Leaks(gw)
        ask(gw, sdk)  # leaves a pooled connection
        accepted = upstream.connections_accepted
        upstream.script(
            {"model": "gpt-4o", "fault": "disconnect_before_response", "first_byte_delay_ms": 2000}
        )
        if retries:
            answer, _ = ask(gw, sdk)
            assert answer.choices[0].message.content
        else:
            with pytest.raises(openai.APIStatusError) as caught:
                ask(gw, sdk)
            assert caught.value.status_code == 502
        leaks.assert_none()
        counted = metrics(gw)
    assert models_asked(upstream) == ["gpt-4o"] * (2 + retries)
    assert upstream.connections_accepted == accepted + retries  # only the counted retry
    assert 'plano_upstream_resets_total{model="gpt-4o",provider="openai"} 1.0' in counted
    if retries:
        assert 'plano_upstream_retries_total{model="gpt-4o",provider="openai"} 1.0' in counted
