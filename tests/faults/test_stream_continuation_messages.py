"""Mid-stream failover seen by an Anthropic client (the official SDK): a Messages stream that
breaks midway goes on as one stream, on an Anthropic fallback (the text sent as a prefill) or an
OpenAI one (translated, with the continuation instruction); the open text block is continued,
there is one `message_start`, and the final usage is the sum of both attempts."""

from __future__ import annotations

from typing import Any

import anthropic
import pytest

from plano.upstream.continuation import CONTINUE_INSTRUCTION
from tests.conftest import GatewayFactory
from tests.faults.conftest import Leaks

pytestmark = pytest.mark.integration

WORDS = [f"w{i:02d} " for i in range(60)]
FULL = "".join(WORDS)
SENT = "".join(WORDS[:40])
REST = "".join(WORDS[40:])
# message_start, ping, content_block_start, then 40 text deltas
AFTER_40 = 43


def config(url: str, fallback: str) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 20s}}
model_providers:
  - model: anthropic/claude-sonnet-4-6
    access_key: sk-ant
    base_url: {url}
    default: true
    fallbacks: [{fallback}]
  - model: {fallback}
    access_key: sk-b
    base_url: {url}
"""


def run(gw: Any) -> tuple[Any, list[Any]]:
    client = anthropic.Anthropic(base_url=gw.url(), api_key="k", max_retries=0, timeout=20)
    with client.messages.stream(
        model="claude-sonnet-4-6", max_tokens=500, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        events = list(stream)
        final = stream.get_final_message()
    client.close()
    return final, events


def primary(fault: str = "disconnect_mid_stream") -> dict[str, Any]:
    return {"model": "claude-sonnet-4-6", "text": FULL, "chunks": 60, "fault": fault} | {
        "fault_after_chunks": AFTER_40,
        "usage": {"prompt_tokens": 7, "completion_tokens": 60},
    }


@pytest.mark.parametrize("fault", ["disconnect_mid_stream", "error_event"])
def test_messages_stream_is_continued_on_an_anthropic_fallback_with_a_prefill(
    upstream: Any, gateway: GatewayFactory, fault: str
) -> None:
    upstream.script(
        primary(fault),
        {
            "model": "claude-haiku-4-5",
            "text": REST,
            "chunks": 20,
            "usage": {"prompt_tokens": 30, "completion_tokens": 20},
        },
    )
    with gateway(config(upstream.base_url, "anthropic/claude-haiku-4-5")) as gw:
        leaks = Leaks(gw)
        final, events = run(gw)
        leaks.assert_none()
    assert [b.text for b in final.content] == [FULL]  # one text block, continued
    assert sum(1 for e in events if e.type == "message_start") == 1
    assert final.usage.input_tokens == 7 + 30  # the primary reported its input up front
    assert final.usage.output_tokens == 40 + 20  # its output estimated: 160 characters / 4
    asked = upstream.requests[1].body["messages"]
    assert asked[-1] == {"role": "assistant", "content": SENT.rstrip()}


def test_messages_stream_is_continued_on_an_openai_fallback(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script(primary(), {"model": "gpt-4o-mini", "text": REST, "chunks": 20})
    with gateway(config(upstream.base_url, "openai/gpt-4o-mini")) as gw:
        leaks = Leaks(gw)
        final, _ = run(gw)
        leaks.assert_none()
    assert [b.text for b in final.content] == [FULL]
    assert [r.path for r in upstream.requests] == ["/v1/messages", "/v1/chat/completions"]
    asked = upstream.requests[1].body["messages"]
    assert asked[-2] == {"role": "assistant", "content": SENT}
    assert asked[-1] == {"role": "user", "content": CONTINUE_INSTRUCTION}
