"""Cross-dialect translation end to end, continued: Chat and Anthropic clients to a Responses
upstream, Azure deployments, count_tokens, an unreachable state store, and filters on translated
requests."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.integration.test_filters import Guard, Redactor, filtered  # noqa: F401 (fixture)
from tests.integration.test_translation import (
    CALLS,
    TOOLS_ANTHROPIC,
    _close_clients,
    ant,
    config,
    oai,
)

pytestmark = pytest.mark.integration
__all__ = ["_close_clients"]  # the autouse fixture, so clients made here are closed too


TOOLS_CHAT = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def responses_config(upstream: Any) -> str:
    return config(
        upstream,
        f"""  - model: chatgpt/gpt-5-codex
    access_key: sk-codex
    base_url: {upstream.base_url}
""",
    )


def test_chat_client_to_responses_upstream(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script(
        {"text": "Sunny.", "thinking": "Look it up.", "cached_tokens": 2},
        {"text": "Checking.", "tool_calls": CALLS, "thinking": "Two cities."},
    )
    msgs: Any = [{"role": "user", "content": "Weather?"}]
    with gateway(responses_config(upstream)) as gw:
        c = oai(gw)
        whole = c.chat.completions.create(model="gpt-5-codex", messages=msgs)
        chunks = list(
            c.chat.completions.create(
                model="gpt-5-codex",
                messages=msgs,
                tools=TOOLS_CHAT,  # type: ignore[arg-type]
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert whole.choices[0].message.content == "Sunny."
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage is not None and whole.usage.prompt_tokens_details is not None
    assert whole.usage.prompt_tokens_details.cached_tokens == 2
    first, second = upstream.requests
    assert first.path.endswith("/responses") and first.body["input"][0]["role"] == "user"
    # the Codex backend answers only streams: the non-streaming request was streamed and folded
    assert first.body["stream"] is True and first.body["store"] is False
    assert second.body["stream"] is True and second.body["tools"][0]["name"] == "get_weather"
    args: dict[int, str] = {}
    text = ""
    for chunk in chunks:
        for choice in chunk.choices:
            text += choice.delta.content or ""
            for tc in choice.delta.tool_calls or []:
                args[tc.index] = args.get(tc.index, "") + (tc.function.arguments or "")  # type: ignore[union-attr]
    assert text == "Checking."
    assert [json.loads(a) for _, a in sorted(args.items())] == [{"city": "Paris"}, {"city": "Rome"}]
    finishes = [ch.finish_reason for c in chunks for ch in c.choices if ch.finish_reason]
    assert finishes == ["tool_calls"]
    assert chunks[-1].usage is not None and chunks[-1].choices == []


def test_anthropic_client_to_responses_upstream_keeps_thinking(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"text": "Done.", "thinking": "Step by step."}, {"tool_calls": CALLS[:1]})
    with gateway(responses_config(upstream)) as gw:
        with ant(gw).messages.stream(
            model="gpt-5-codex",
            max_tokens=200,
            messages=[{"role": "user", "content": "Think, then answer."}],
        ) as stream:
            final = stream.get_final_message()
        tool = ant(gw).messages.create(
            model="gpt-5-codex",
            max_tokens=200,
            tools=TOOLS_ANTHROPIC,  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Weather?"}],
        )
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Step by step."  # type: ignore[union-attr]
    assert final.content[1].text == "Done."  # type: ignore[union-attr]
    assert tool.stop_reason == "tool_use"
    assert [(b.name, b.input) for b in tool.content if b.type == "tool_use"] == [
        ("get_weather", {"city": "Paris"})
    ]
    assert upstream.requests[0].body["max_output_tokens"] == 200
    assert all(r.body["stream"] is True for r in upstream.requests)


def test_unreachable_state_store_is_503_and_nothing_is_sent(
    upstream: Any, gateway: GatewayFactory
) -> None:
    dead = "postgresql://postgres@127.0.0.1:1/test"  # nothing listens on port 1
    extra = f"state_storage: {{type: postgres, connection_string: '{dead}'}}\n"
    with gateway(config(upstream, extra)) as gw, pytest.raises(openai.APIStatusError) as info:
        oai(gw).responses.create(model="mistral-large", input="x", previous_response_id="resp_1")
    assert info.value.status_code == 503
    assert upstream.requests == []


def test_count_tokens_estimated_or_forwarded(upstream: Any, gateway: GatewayFactory) -> None:
    extra = f"""  - model: anthropic/claude-sonnet-4-5
    access_key: sk-ant
    base_url: {upstream.base_url}
"""
    short: Any = [{"role": "user", "content": "hi"}]
    long: Any = [{"role": "user", "content": "a much longer question " * 40}]
    with gateway(config(upstream, extra)) as gw:
        c = ant(gw)
        small = c.messages.count_tokens(model="mistral-large", messages=short)
        big = c.messages.count_tokens(model="mistral-large", messages=long, system="Be brief.")
        with pytest.raises(anthropic.NotFoundError):  # the fake Anthropic has no count endpoint
            c.messages.count_tokens(model="claude-sonnet-4-5", messages=short)
    assert 0 < small.input_tokens < big.input_tokens
    assert 200 < big.input_tokens < 400  # ~920 bytes of text
    (native,) = upstream.requests  # only the Anthropic provider was called
    assert native.path == "/v1/messages/count_tokens"
    assert native.headers["x-api-key"] == "sk-ant"


def test_anthropic_and_responses_clients_to_azure_deployment(
    upstream: Any, gateway: GatewayFactory
) -> None:
    extra = f"""  - model: azure_openai/my-deployment
    access_key: azure-secret
    base_url: {upstream.base_url}
"""
    with gateway(config(upstream, extra)) as gw:
        msg = ant(gw).messages.create(
            model="my-deployment", max_tokens=20, messages=[{"role": "user", "content": "hi"}]
        )
        resp = oai(gw).responses.create(model="azure_openai/my-deployment", input="hi")
    assert msg.content[0].type == "text" and resp.output_text
    for req in upstream.requests:
        assert req.path == "/openai/deployments/my-deployment/chat/completions"
        assert "api-version=" in req.query and req.headers["api-key"] == "azure-secret"


def test_filters_see_the_client_dialect_on_translated_requests(
    upstream: Any,
    filtered: tuple[Any, Guard, Redactor],  # noqa: F811 (the fixture imported above)
) -> None:
    """Input filters get the client's body; output filters get the client's bytes (translated)."""
    gw, guard, redactor = filtered
    upstream.script({"text": "qq says hi"}, {"text": "qq qq", "chunks": 2})
    c = ant(gw)
    msgs: Any = [{"role": "user", "content": "Weather in Paris?"}]
    whole = c.messages.create(model="gpt-4o-mini", max_tokens=50, messages=msgs)
    with c.messages.stream(model="gpt-4o-mini", max_tokens=50, messages=msgs) as stream:
        final = stream.get_final_message()
    assert whole.content[0].text == "QQ says hi"  # type: ignore[union-attr]
    assert final.content[0].text == "QQ QQ"  # type: ignore[union-attr]
    assert [r.body["messages"][-1]["content"] for r in upstream.requests] == [
        "Weather in Paris? [guarded]"
    ] * 2
    assert [seen[0] for seen in guard.seen] == ["/v1/messages"] * 2
    assert b'"type":"message"' in redactor.chunks[0]  # Anthropic bytes, not chat
    assert any(chunk.startswith(b"event: ") for chunk in redactor.chunks[1:])
