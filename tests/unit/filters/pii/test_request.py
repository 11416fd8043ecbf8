"""Request rewriting in the three client dialects: every text the model reads, nothing else."""

from __future__ import annotations

from typing import Any

import pytest

from plano.filters.pii.detect import Detector
from plano.filters.pii.request import PiiBlocked, Rewriter
from plano.filters.pii.session import Session

ACTIONS = {
    "email": "redact",
    "phone": "redact",
    "card": "mask",
    "secret": "block",
    "name": "redact",
}


def rewriter(actions: dict[str, str] = ACTIONS) -> Rewriter:
    return Rewriter("pii", Detector(actions, ("Alice Martin",)), actions)


def test_chat_messages_parts_tools_and_history() -> None:
    doc: dict[str, Any] = {
        "model": "gpt-4o",
        "messages": [
            {"role": "system", "content": "Agent for alice@example.com"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "I am Alice Martin, alice@example.com"}],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_alice@example.com",
                        "type": "function",
                        "function": {
                            "name": "lookup",
                            "arguments": '{"email": "alice@example.com"}',
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "phone +33 6 12 34 56 78"},
            {
                "role": "user",
                "content": [{"type": "image_url", "image_url": {"url": "data:a@b.io"}}],
            },
        ],
    }
    s = Session()
    assert rewriter().rewrite(doc, s) is True
    m = doc["messages"]
    assert m[0]["content"] == "Agent for <EMAIL_1>"
    assert m[1]["content"][0]["text"] == "I am <NAME_1>, <EMAIL_1>"
    call = m[2]["tool_calls"][0]
    assert call["function"]["arguments"] == '{"email": "<EMAIL_1>"}'
    assert call["id"] == "call_alice@example.com"  # ids are no text
    assert m[3]["content"] == "phone <PHONE_1>"
    assert m[4]["content"][0]["image_url"]["url"] == "data:a@b.io"
    assert doc["model"] == "gpt-4o"
    assert s.counts == {("email", "redact"): 3, ("name", "redact"): 1, ("phone", "redact"): 1}


def test_anthropic_system_blocks_and_tool_results() -> None:
    doc: dict[str, Any] = {
        "model": "claude",
        "system": [{"type": "text", "text": "Customer: Alice Martin"}],
        "messages": [
            {"role": "user", "content": "card 4111 1111 1111 1111"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "alice@example.com", "signature": "sig"},
                    {
                        "type": "tool_use",
                        "id": "t1",
                        "name": "crm",
                        "input": {"q": "alice@example.com"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "+1 415-555-2671"}],
                    }
                ],
            },
        ],
    }
    assert rewriter().rewrite(doc, Session()) is True
    assert doc["system"][0]["text"] == "Customer: <NAME_1>"
    assert doc["messages"][0]["content"] == "card ****1111"
    blocks = doc["messages"][1]["content"]
    assert blocks[0]["thinking"] == "alice@example.com"  # signed: left alone
    assert blocks[1]["input"] == {"q": "<EMAIL_1>"}
    assert doc["messages"][2]["content"][0]["content"][0]["text"] == "<PHONE_1>"


def test_responses_input_and_instructions() -> None:
    doc: dict[str, Any] = {
        "model": "gpt-4o",
        "instructions": "Reply to alice@example.com",
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": "Call +33 6 12 34 56 78"}]},
            {"type": "function_call_output", "call_id": "c1", "output": "bob@example.org"},
        ],
    }
    assert rewriter().rewrite(doc, Session()) is True
    assert doc["instructions"] == "Reply to <EMAIL_1>"
    assert doc["input"][0]["content"][0]["text"] == "Call <PHONE_1>"
    assert doc["input"][1]["output"] == "<EMAIL_2>"
    plain: dict[str, Any] = {"model": "m", "input": "mail alice@example.com"}
    assert rewriter().rewrite(plain, Session()) is True
    assert plain["input"] == "mail <EMAIL_1>"


def test_nothing_found_is_unchanged() -> None:
    doc: dict[str, Any] = {"messages": [{"role": "user", "content": "released 2024-01-15, v1.2.3"}]}
    s = Session()
    assert rewriter().rewrite(doc, s) is False
    assert doc["messages"][0]["content"] == "released 2024-01-15, v1.2.3"
    assert s.originals == {} and s.counts == {}


def test_block_names_the_entity_never_the_value() -> None:
    key = "sk-proj-abcdefghijklmnopqrstuvwx"
    doc: dict[str, Any] = {"messages": [{"role": "user", "content": f"my key {key} and a@b.io"}]}
    with pytest.raises(PiiBlocked) as err:
        rewriter().rewrite(doc, Session())
    assert err.value.status == 400
    assert "secret" in err.value.message and "API key" in err.value.message
    assert key not in err.value.message and "a@b.io" not in err.value.message
    assert doc["messages"][0]["content"].startswith("my key sk-")  # nothing rewritten


def test_client_placeholders_are_not_reused() -> None:
    doc: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": "mail a@b.io"},
            {"role": "user", "content": "literal <EMAIL_1> in my text"},
        ]
    }
    s = Session()
    rewriter().rewrite(doc, s)
    assert doc["messages"][0]["content"] == "mail <EMAIL_2>"
    assert s.originals == {"<EMAIL_2>": "a@b.io"}
