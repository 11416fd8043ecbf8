from __future__ import annotations

import pytest

from plano.providers.catalogue import Api
from plano.routing.conversation import conversation_of


def test_messages_api_system_tools_and_tool_results() -> None:
    c = conversation_of(
        {
            "system": [{"type": "text", "text": "be brief"}],
            "tools": [{"name": "search"}, {"name": "fetch"}],
            "messages": [
                {"role": "user", "content": "find it"},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "s"}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]},
            ],
        },
        Api.ANTHROPIC_MESSAGES,
    )
    assert c.system == "be brief" and c.tools == "search,fetch"
    assert [t.role for t in c.turns] == ["user", "assistant", "tool"]
    assert not c.is_user_turn()


def test_responses_string_input_and_instructions() -> None:
    c = conversation_of({"instructions": "sys", "input": "hello"}, Api.OPENAI_RESPONSES)
    assert c.system == "sys" and c.last_user_text == "hello" and c.is_user_turn()


@pytest.mark.parametrize(
    ("content", "user_turn"),
    [
        ("<system-reminder>note</system-reminder>", False),
        ("<system-reminder>unterminated", False),
        ("<system-reminder>x</system-reminder> real question", True),
        ([{"type": "image_url", "image_url": {"url": "data:"}}], True),
    ],
)
def test_user_turn_detection(content: object, user_turn: bool) -> None:
    c = conversation_of({"messages": [{"role": "user", "content": content}]}, Api.OPENAI_CHAT)
    assert c.is_user_turn() is user_turn
