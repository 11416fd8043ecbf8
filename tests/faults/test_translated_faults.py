"""Resilience for translated requests, seen through the official OpenAI SDK: a chat client of an
Anthropic model (the mock answers Anthropic Messages at /v1/messages) is retried on 503 and on a
429 with Retry-After, fails over to an OpenAI model when the primary refuses connections (and the
reverse: an OpenAI primary fails over to an Anthropic model), streamed or not; a stream cut after
its first byte ends with the chat dialect's error event and is never retried."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from plano.runtime.serve import ThreadedGateway
from tests.conftest import GatewayFactory
from tests.faults.conftest import Leaks, closed_port

pytestmark = pytest.mark.integration

Sdk = Callable[[ThreadedGateway], openai.OpenAI]
HI = [{"role": "user", "content": "hi"}]
RETRY = "retry_policy: {num_retries: 1, base_interval: 1ms, max_interval: 5ms}"


def config(
    primary: str, primary_url: str, fallback: str, fallback_url: str, extra: str = ""
) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 20s}}
model_providers:
  - model: {primary}
    access_key: sk-a
    base_url: {primary_url}
    default: true
    {RETRY}
    fallbacks: [{fallback}]
    {extra}
  - model: {fallback}
    access_key: sk-b
    base_url: {fallback_url}
"""


def to_anthropic(primary_url: str, fallback_url: str, extra: str = "") -> str:
    return config(
        "anthropic/claude-sonnet-4-6", primary_url, "openai/gpt-4o-mini", fallback_url, extra
    )


def to_openai(primary_url: str, fallback_url: str) -> str:
    return config("openai/gpt-4o", primary_url, "anthropic/claude-haiku-4-5", fallback_url)


def asked(upstream: Any) -> list[tuple[str, str]]:
    return [(r.path, r.body["model"]) for r in upstream.requests]


def ask(gw: ThreadedGateway, sdk: Sdk, model: str, *, stream: bool) -> tuple[str, str]:
    """The answer's text and the model that served it (x-plano-model)."""
    client = sdk(gw)
    if not stream:
        raw = client.chat.completions.with_raw_response.create(model=model, messages=HI)
        return raw.parse().choices[0].message.content or "", raw.headers["x-plano-model"]
    with client.chat.completions.with_streaming_response.create(
        model=model, messages=HI, stream=True
    ) as resp:
        served = resp.headers["x-plano-model"]
        text = "".join(
            chunk.choices[0].delta.content or "" for chunk in resp.parse() if chunk.choices
        )
    return text, served


@pytest.mark.parametrize("stream", [False, True])
def test_503_once_is_retried_on_the_translated_model(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk, stream: bool
) -> None:
    upstream.script({"model": "claude-sonnet-4-6", "status": 503})
    with gateway(to_anthropic(upstream.base_url, upstream.base_url)) as gw:
        leaks = Leaks(gw)
        text, served = ask(gw, sdk, "claude-sonnet-4-6", stream=stream)
        leaks.assert_none()
    assert text
    assert served == "anthropic/claude-sonnet-4-6"
    assert asked(upstream) == [("/v1/messages", "claude-sonnet-4-6")] * 2


@pytest.mark.parametrize("stream", [False, True])
def test_429_with_retry_after_is_retried_on_the_translated_model(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk, stream: bool
) -> None:
    upstream.script({"model": "claude-sonnet-4-6", "status": 429, "retry_after": "0"})
    with gateway(to_anthropic(upstream.base_url, upstream.base_url)) as gw:
        leaks = Leaks(gw)
        text, served = ask(gw, sdk, "claude-sonnet-4-6", stream=stream)
        leaks.assert_none()
    assert text
    assert served == "anthropic/claude-sonnet-4-6"
    assert asked(upstream) == [("/v1/messages", "claude-sonnet-4-6")] * 2


@pytest.mark.parametrize("stream", [False, True])
def test_refused_translated_primary_fails_over_to_an_openai_model(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk, stream: bool
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}"
    with gateway(to_anthropic(dead, upstream.base_url)) as gw:
        leaks = Leaks(gw)
        text, served = ask(gw, sdk, "claude-sonnet-4-6", stream=stream)
        leaks.assert_none()
    assert text
    assert served == "openai/gpt-4o-mini"
    assert asked(upstream) == [("/v1/chat/completions", "gpt-4o-mini")]


@pytest.mark.parametrize("stream", [False, True])
def test_refused_openai_primary_fails_over_to_a_translated_model(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk, stream: bool
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    with gateway(to_openai(dead, upstream.base_url)) as gw:
        leaks = Leaks(gw)
        text, served = ask(gw, sdk, "gpt-4o", stream=stream)
        leaks.assert_none()
    assert text
    assert served == "anthropic/claude-haiku-4-5"
    assert asked(upstream) == [("/v1/messages", "claude-haiku-4-5")]


def test_translated_error_after_retries_is_in_the_clients_dialect(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    """Nothing left to try (the fallback fails too): the last upstream error, as a chat error."""
    upstream.script({"status": 503, "times": 0})
    with gateway(to_anthropic(upstream.base_url, upstream.base_url)) as gw:
        leaks = Leaks(gw)
        with pytest.raises(openai.InternalServerError) as info:
            sdk(gw).chat.completions.create(model="claude-sonnet-4-6", messages=HI)
        leaks.assert_none()
    assert info.value.status_code == 503
    assert isinstance(info.value.body, dict)  # the chat error envelope's `error` object
    assert asked(upstream) == [
        ("/v1/messages", "claude-sonnet-4-6"),
        ("/v1/messages", "claude-sonnet-4-6"),
        ("/v1/chat/completions", "gpt-4o-mini"),
    ]


def test_translated_stream_cut_midway_ends_with_a_chat_error_event(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"fault": "disconnect_mid_stream", "fault_after_chunks": 3})
    opt_out = "stream_continuation: false"  # continued: tests/faults/test_stream_*.py
    with gateway(to_anthropic(upstream.base_url, upstream.base_url, opt_out)) as gw:
        leaks = Leaks(gw)
        chunks: list[Any] = []
        stream = sdk(gw).chat.completions.create(
            model="claude-sonnet-4-6", messages=HI, stream=True
        )
        with pytest.raises(openai.APIError):
            for chunk in stream:
                chunks.append(chunk)
        leaks.assert_none()
    assert chunks  # it had started
    assert asked(upstream) == [("/v1/messages", "claude-sonnet-4-6")]  # never retried


def test_retried_translated_request_keeps_the_continued_conversation(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    """A Responses client continuing a stored conversation: the retry sends the same history."""
    text = to_anthropic(upstream.base_url, upstream.base_url) + "state_storage: {type: memory}\n"
    with gateway(text) as gw:
        client = sdk(gw)
        first = client.responses.create(model="claude-sonnet-4-6", input="first question")
        upstream.script({"model": "claude-sonnet-4-6", "status": 503})
        client.responses.create(
            model="claude-sonnet-4-6", input="second question", previous_response_id=first.id
        )
    sent = [r.body for r in upstream.requests]
    assert [r["model"] for r in sent] == ["claude-sonnet-4-6"] * 3
    retried, answered = sent[1], sent[2]
    assert retried == answered
    assert "first question" in str(answered["messages"]) and "second question" in str(
        answered["messages"]
    )


def test_stalled_translated_stream_is_cut_with_a_chat_error_event(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    """The provider's `idle` timeout guards a translated stream too (unguarded, this stream would
    complete in ~10 s (7 events 1.5 s apart), inside the 20 s deadline)."""
    upstream.script({"model": "claude-sonnet-4-6", "chunks": 2, "chunk_delay_ms": 1500})
    extra = "timeouts: {idle: 200ms}\n    stream_continuation: false"
    text = to_anthropic(upstream.base_url, upstream.base_url, extra)
    with gateway(text) as gw:
        leaks = Leaks(gw)
        got: list[Any] = []
        stream = sdk(gw).chat.completions.create(
            model="claude-sonnet-4-6", messages=HI, stream=True
        )
        with pytest.raises(openai.APIError) as caught:
            for chunk in stream:
                got.append(chunk)
        leaks.assert_none()
    assert got
    assert "in time" in str(caught.value)
    assert asked(upstream) == [("/v1/messages", "claude-sonnet-4-6")]
