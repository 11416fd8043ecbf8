"""An Anthropic thinking budget asks OpenAI-style upstreams for reasoning (effort derived)."""

from __future__ import annotations

import pytest

from plano import ir
from plano.translate import client_codec, upstream_codec
from plano.wire.api import Api


@pytest.mark.parametrize(
    ("reasoning", "effort"),
    [
        (ir.Reasoning(budget_tokens=1024), "low"),
        (ir.Reasoning(budget_tokens=4096), "medium"),
        (ir.Reasoning(budget_tokens=16384), "high"),
        (ir.Reasoning(effort="minimal", budget_tokens=50000), "minimal"),
        (ir.Reasoning(budget_tokens=2048, enabled=False), None),
        (ir.Reasoning(), None),
    ],
)
def test_openai_effort(reasoning: ir.Reasoning, effort: str | None) -> None:
    assert reasoning.openai_effort() == effort


def test_anthropic_thinking_reaches_chat_and_responses_upstreams() -> None:
    messages = client_codec(Api.ANTHROPIC_MESSAGES)
    assert messages is not None
    request = messages.parse_request(
        {
            "model": "m",
            "max_tokens": 4000,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "messages": [{"role": "user", "content": "hi"}],
        }
    )
    chat, responses = upstream_codec(Api.OPENAI_CHAT), upstream_codec(Api.OPENAI_RESPONSES)
    assert chat is not None and responses is not None
    assert chat.build_request(request, "m")["reasoning_effort"] == "low"
    assert responses.build_request(request, "m")["reasoning"] == {"effort": "low"}
