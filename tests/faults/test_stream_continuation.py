"""Mid-stream failover, seen through the official OpenAI SDK: a stream that breaks after part of
the answer reached the client (reset, stall past `idle`, malformed event, in-stream error event)
is continued on the fallback and the client reads one well-formed stream; where it cannot be
(a fallback that refuses the prefill, a tool call under way, the provider opted out), the client
gets the original failure as a clean error event."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from plano.runtime.serve import ThreadedGateway
from plano.upstream.continuation import CONTINUE_INSTRUCTION
from tests.conftest import GatewayFactory
from tests.faults.conftest import Leaks

pytestmark = pytest.mark.integration

Sdk = Callable[[ThreadedGateway], openai.OpenAI]
HI = [{"role": "user", "content": "hi"}]
WORDS = [f"w{i:02d} " for i in range(60)]  # 60 tokens of 4 characters, one per chunk
FULL = "".join(WORDS)
SENT = "".join(WORDS[:40])
REST = "".join(WORDS[40:])


def config(url: str, *, fallback: str = "openai/gpt-4o-mini", extra: str = "") -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 20s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-a
    base_url: {url}
    default: true
    fallbacks: [{fallback}]
{extra}
  - model: {fallback}
    access_key: sk-b
    base_url: {url}
"""


def cut(fault: str, **kw: Any) -> dict[str, Any]:
    """The primary's reply: 60 tokens, broken by `fault` after the role chunk and 40 tokens."""
    return (
        {"model": "gpt-4o", "text": FULL, "chunks": 60, "fault": fault}
        | {"fault_after_chunks": 41}
        | kw
    )


def rest(model: str = "gpt-4o-mini", **kw: Any) -> dict[str, Any]:
    return {"model": model, "text": REST, "chunks": 20} | kw


def stream(gw: ThreadedGateway, sdk: Sdk, **kw: Any) -> list[Any]:
    client = sdk(gw)
    chunks = list(client.chat.completions.create(model="gpt-4o", messages=HI, stream=True, **kw))
    client.close()
    return chunks


def text_of(chunks: list[Any]) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def continued_with(upstream: Any) -> list[dict[str, Any]]:
    """The messages of the continuation request (the second one the mock received)."""
    assert len(upstream.requests) == 2, [r.body["model"] for r in upstream.requests]
    return list(upstream.requests[1].body["messages"])


def test_stream_cut_after_40_of_60_tokens_is_continued_as_one_stream(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.script(cut("disconnect_mid_stream"), rest())
    with gateway(config(upstream.base_url)) as gw:
        leaks = Leaks(gw)
        chunks = stream(gw, sdk, stream_options={"include_usage": True})
        leaks.assert_none()
    assert text_of(chunks) == FULL
    assert len({c.id for c in chunks}) == 1  # one stream: the primary's id throughout
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.role) == 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    messages = continued_with(upstream)
    assert messages[-2:] == [
        {"role": "assistant", "content": SENT},
        {"role": "user", "content": CONTINUE_INSTRUCTION},
    ]
    # usage = the primary's share (estimated: it was cut before reporting) + the fallback's
    usage = chunks[-1].usage
    fallback_prompt = (len("hi") + len(SENT) + len(CONTINUE_INSTRUCTION) + 3) // 4
    assert usage.prompt_tokens == (len("hi") + 3) // 4 + fallback_prompt
    assert usage.completion_tokens == len(SENT) // 4 + len(REST) // 4 == 60
    log = capsys.readouterr().out
    assert "continued=true" in log and "error=-" in log


@pytest.mark.parametrize(
    ("primary", "extra"),
    [
        pytest.param(cut("stall_mid_stream"), "    timeouts: {idle: 200ms}", id="stalled"),
        pytest.param(cut("malformed_chunk"), "    validate_stream: true", id="malformed_event"),
        pytest.param(cut("error_event"), "", id="in_stream_error_event"),
    ],
)
def test_broken_stream_is_continued(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk, primary: dict[str, Any], extra: str
) -> None:
    if primary["fault"] == "malformed_chunk":  # inserted at position 41, the rest follows
        primary = primary | {"text": SENT, "chunks": 40}
    upstream.script(primary, rest())
    with gateway(config(upstream.base_url, extra=extra)) as gw:
        leaks = Leaks(gw)
        chunks = stream(gw, sdk)
        leaks.assert_none()
    assert text_of(chunks) == FULL
    assert continued_with(upstream)[-2]["content"] == SENT


def test_stream_without_done_ends_cleanly(upstream: Any, gateway: GatewayFactory, sdk: Sdk) -> None:
    """A passthrough stream that ends cleanly without `data: [DONE]` is relayed as it is."""
    upstream.script(cut("no_done"))
    with gateway(config(upstream.base_url)) as gw:
        chunks = stream(gw, sdk)
    assert text_of(chunks) == FULL
    assert len(upstream.requests) == 1


def test_prefill_fallback_continues_from_the_text_sent(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    """An Anthropic fallback takes the text sent as a prefill and writes only the rest."""
    upstream.script(cut("disconnect_mid_stream"), rest("claude-haiku-4-5"))
    with gateway(config(upstream.base_url, fallback="anthropic/claude-haiku-4-5")) as gw:
        leaks = Leaks(gw)
        chunks = stream(gw, sdk)
        leaks.assert_none()
    assert text_of(chunks) == FULL
    assert upstream.requests[1].path == "/v1/messages"
    last = continued_with(upstream)[-1]
    assert last["role"] == "assistant"
    assert "".join(p.get("text", "") for p in last["content"]) == SENT.rstrip()


def test_fallback_refusing_the_prefill_leaves_the_original_error(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script(cut("disconnect_mid_stream"), rest("claude-haiku-4-5", fault="reject_prefill"))
    with gateway(config(upstream.base_url, fallback="anthropic/claude-haiku-4-5")) as gw:
        leaks = Leaks(gw)
        client = sdk(gw)
        got: list[Any] = []
        with pytest.raises(openai.APIError) as caught:
            for chunk in client.chat.completions.create(model="gpt-4o", messages=HI, stream=True):
                got.append(chunk)
        client.close()
        leaks.assert_none()
    assert text_of(got) == SENT  # whole events, then the error event
    assert "prefill" not in str(caught.value)  # the original failure, not the fallback's 400
    assert "upstream" in str(caught.value)
    assert continued_with(upstream)[-1]["role"] == "assistant"  # the prefill was asked for


def test_tool_call_stream_cut_ends_with_a_clean_error(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    calls = [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}]
    upstream.script(
        {"model": "gpt-4o", "tool_calls": calls, "fault": "disconnect_mid_stream"}
        | {"fault_after_chunks": 3}
    )
    with gateway(config(upstream.base_url)) as gw:
        leaks = Leaks(gw)
        client = sdk(gw)
        got: list[Any] = []
        with pytest.raises(openai.APIError):
            for chunk in client.chat.completions.create(model="gpt-4o", messages=HI, stream=True):
                got.append(chunk)
        client.close()
        leaks.assert_none()
    assert any(c.choices and c.choices[0].delta.tool_calls for c in got)
    assert len(upstream.requests) == 1  # never continued


def test_opt_out_is_respected(upstream: Any, gateway: GatewayFactory, sdk: Sdk) -> None:
    upstream.script(cut("disconnect_mid_stream"), rest())
    text = config(upstream.base_url, extra="    stream_continuation: false")
    with gateway(text) as gw:
        client = sdk(gw)
        got: list[Any] = []
        with pytest.raises(openai.APIError):
            for chunk in client.chat.completions.create(model="gpt-4o", messages=HI, stream=True):
                got.append(chunk)
        client.close()
    assert text_of(got) == SENT
    assert len(upstream.requests) == 1


def test_translated_stream_is_continued_on_an_openai_fallback(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    """A chat client of an Anthropic model (translated) whose stream breaks: the OpenAI
    fallback's stream goes on from the same chat stream."""
    text = config(upstream.base_url).replace("openai/gpt-4o\n", "anthropic/claude-sonnet-4-6\n")
    upstream.script(cut("disconnect_mid_stream", model="claude-sonnet-4-6"), rest())
    with gateway(text) as gw:
        leaks = Leaks(gw)
        client = sdk(gw)
        chunks = list(
            client.chat.completions.create(model="claude-sonnet-4-6", messages=HI, stream=True)
        )
        client.close()
        leaks.assert_none()
    assert [r.path for r in upstream.requests] == ["/v1/messages", "/v1/chat/completions"]
    sent = continued_with(upstream)[-2]["content"]
    assert text_of(chunks) == sent + REST
    assert sent and FULL.startswith(sent)
    assert len({c.id for c in chunks}) == 1


def test_opt_out_holds_for_an_alias_fallback(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script(cut("disconnect_mid_stream"), rest())
    text = config(upstream.base_url).replace("    fallbacks: [openai/gpt-4o-mini]\n", "")
    text = text.replace(
        "    default: true\n", "    default: true\n    stream_continuation: false\n"
    )
    text += "model_aliases:\n  smart: {target: openai/gpt-4o, fallbacks: [openai/gpt-4o-mini]}\n"
    with gateway(text) as gw:
        client = sdk(gw)
        with pytest.raises(openai.APIError):
            for _ in client.chat.completions.create(model="smart", messages=HI, stream=True):
                pass
        client.close()
    assert len(upstream.requests) == 1
