from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plano.agents.prompt import (
    PROMPT_TEMPLATE,
    AgentRoute,
    RouteParseError,
    conversation_for,
    parse_routes,
    routes_text,
    trim_middle,
)


def test_routes_text_one_spaced_json_object_per_line() -> None:
    text = routes_text([AgentRoute("a", "first"), AgentRoute("b", "zweite Straße")])
    assert text.splitlines() == [
        '{"name": "a", "description": "first", "parameters": '
        '{"type": "object", "properties": {}, "required": []}}',
        '{"name": "b", "description": "zweite Straße", "parameters": '
        '{"type": "object", "properties": {}, "required": []}}',
    ]


def test_conversation_drops_system_tool_and_empty_messages() -> None:
    messages = [
        {"role": "system", "content": "sys"},
        {
            "role": "user",
            "content": [{"type": "text", "text": "hi"}, {"type": "text", "text": "!"}],
        },
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
        {"role": "tool", "content": "result"},
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": "next"},
    ]
    assert conversation_for(messages, 8192) == [
        {"role": "user", "content": "hi !"},
        {"role": "assistant", "content": "done"},
        {"role": "user", "content": "next"},
    ]


def test_conversation_keeps_last_sixteen() -> None:
    messages = [{"role": "user", "content": f"m{i}"} for i in range(20)]
    kept = conversation_for(messages, 8192)
    assert [m["content"] for m in kept] == [f"m{i}" for i in range(4, 20)]


def test_overflowing_user_message_is_middle_trimmed() -> None:
    base = len(PROMPT_TEMPLATE) // 4
    long = "A" * 300 + "B" * 300
    kept = conversation_for(
        [{"role": "assistant", "content": "old"}, {"role": "user", "content": long}], base + 50
    )
    (only,) = kept
    assert only["role"] == "user"
    assert len(only["content"].encode()) <= 200
    assert only["content"].startswith("A") and only["content"].endswith("B")
    assert "…" in only["content"]


def test_nothing_fits_uses_the_last_message() -> None:
    kept = conversation_for([{"role": "assistant", "content": "x" * 400}], 1)
    assert kept == [{"role": "assistant", "content": "x" * 400}]


@given(st.text(), st.integers(min_value=0, max_value=64))
def test_trim_middle_is_bounded_and_valid_utf8(text: str, limit: int) -> None:
    out = trim_middle(text, limit)
    assert len(out.encode()) <= max(limit, 0) or out == text
    if len(text.encode()) <= limit:
        assert out == text


@pytest.mark.parametrize(
    ("answer", "routes"),
    [
        ('{"route": ["a", "b"]}', ["a", "b"]),
        ("{'route': ['b']}", ["b"]),
        ('{"route": ["", "a"]}', ["a"]),
        ('{"route": []}', []),
        ("", []),
        ('{"route": null}', []),
    ],
)
def test_parse_routes(answer: str, routes: list[str]) -> None:
    assert parse_routes(answer) == routes


@pytest.mark.parametrize("answer", ["route: a", "[1]", '{"route": "a"}'])
def test_parse_routes_rejects(answer: str) -> None:
    with pytest.raises(RouteParseError):
        parse_routes(answer)
