from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from plano.agents.prompt_targets import native

JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3),
    max_leaves=12,
)


def test_tool_calls_text_and_no_match() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "w", "arguments": '{"a": 1}'}}
    found = native.detection({"role": "assistant", "content": None, "tool_calls": [call]})
    assert [(c.id, c.name, c.arguments) for c in found.calls] == [("c1", "w", '{"a": 1}')]
    ask = native.detection({"role": "assistant", "content": "Which city?"})
    assert ask.clarification == "Which city?" and not ask.calls
    assert not native.detection({"role": "assistant", "content": native.NO_MATCH}).intent
    assert not native.detection({"role": "assistant", "content": ""}).intent


def test_request_replaces_system_messages_with_ours() -> None:
    body = native.request_body(
        "m", [{"type": "function"}], [{"role": "system", "content": "x"}, {"role": "user"}]
    )
    assert body["messages"] == [
        {"role": "system", "content": native.INSTRUCTIONS},
        {"role": "user"},
    ]
    assert body["tool_choice"] == "auto" and body["stream"] is False


@given(JSONISH)
def test_any_message_is_read(message: Any) -> None:
    found = native.detection(message)
    assert all(isinstance(c.name, str) for c in found.calls)
