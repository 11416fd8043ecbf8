from __future__ import annotations

from typing import Any

from plano.providers.catalogue import Api
from plano.routing.prompt_caching import has_markers, inject

EPH = {"type": "ephemeral"}


def test_anthropic_system_string_and_last_message() -> None:
    doc: dict[str, Any] = {
        "system": "long system",
        "messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    }
    assert inject(doc, Api.ANTHROPIC_MESSAGES, "anthropic", "claude-sonnet-4")
    assert doc["system"] == [{"type": "text", "text": "long system", "cache_control": EPH}]
    assert doc["messages"][0]["content"] == "a"
    assert doc["messages"][1]["content"] == [{"type": "text", "text": "b", "cache_control": EPH}]


def test_anthropic_without_system_marks_last_tool_and_last_block() -> None:
    doc: dict[str, Any] = {
        "tools": [{"name": "a"}, {"name": "b"}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "x"}, {"type": "image"}]}
        ],
    }
    assert inject(doc, Api.ANTHROPIC_MESSAGES, "anthropic", "claude")
    assert "cache_control" not in doc["tools"][0] and doc["tools"][1]["cache_control"] == EPH
    assert doc["messages"][0]["content"][1]["cache_control"] == EPH


def test_chat_claude_via_openrouter_marks_first_system() -> None:
    doc: dict[str, Any] = {
        "messages": [
            {
                "role": "system",
                "content": [{"type": "text", "text": "s1"}, {"type": "text", "text": "s2"}],
            },
            {"role": "user", "content": "u"},
        ]
    }
    assert inject(doc, Api.OPENAI_CHAT, "openrouter", "anthropic/claude-3.5-sonnet")
    assert doc["messages"][0]["content"][1]["cache_control"] == EPH
    assert doc["messages"][1]["content"] == "u"


def test_automatic_providers_get_nothing() -> None:
    doc: dict[str, Any] = {"messages": [{"role": "system", "content": "s"}]}
    assert not inject(doc, Api.OPENAI_CHAT, "openai", "gpt-4o")
    assert not inject(doc, Api.OPENAI_CHAT, "openrouter", "openai/gpt-4o")
    assert not inject(doc, Api.OPENAI_RESPONSES, "openai", "claude")
    assert doc == {"messages": [{"role": "system", "content": "s"}]}


def test_has_markers() -> None:
    assert has_markers({"messages": [{"content": [{"cache_control": EPH}]}]})
    assert not has_markers({"messages": [{"content": "x"}]})
