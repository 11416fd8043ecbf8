"""The orchestrator prompt and answer format (reference §4.3), checked against the original's
own expected strings for its context-budget cases."""

from __future__ import annotations

import json

import pytest

from plano.routing.conversation import Conversation, Turn
from plano.routing.decision import RouterFailed
from plano.routing.orchestrator import (
    MAX_ROUTING_TURNS,
    PROMPT_TEMPLATE,
    build_prompt,
    parse_answer,
    select_turns,
    trim_middle,
)
from plano.routing.preferences import Preference, PreferenceSet

IMAGE = PreferenceSet.of([Preference("Image generation", "generating image", ("openai/gpt-4o",))])
ROUTES_LINE = (
    '{"name": "Image generation", "description": "generating image", '
    '"parameters": {"type": "object", "properties": {}, "required": []}}'
)


def conv(*turns: tuple[str, str]) -> Conversation:
    return Conversation(tuple(Turn(r, t) for r, t in turns), "", "")


def expected(conversation: str) -> str:
    return PROMPT_TEMPLATE.replace("{routes}", ROUTES_LINE).replace("{conversation}", conversation)


WARHOL = "given the image In style of Andy Warhol, portrait of Bart and Lisa Simpson"


def test_prompt_skeleton_keeps_the_doubled_braces() -> None:
    prompt = build_prompt(IMAGE, conv(("user", "hi")), 8192)
    assert prompt.startswith("\nYou are a helpful assistant that selects the most suitable routes")
    assert '{{"route": ["route_name_1", "route_name_2", "..."]}}' in prompt
    assert prompt.endswith("If no routes are needed, return an empty list for `route`.\n")
    assert f"<routes>\n{ROUTES_LINE}\n</routes>" in prompt


def test_full_conversation_four_space_indent() -> None:
    c = conv(("user", "hi"), ("assistant", "Hello! How can I assist you today?"), ("user", WARHOL))
    want = (
        '[\n    {\n        "role": "user",\n        "content": "hi"\n    },\n'
        '    {\n        "role": "assistant",\n'
        '        "content": "Hello! How can I assist you today?"\n    },\n'
        f'    {{\n        "role": "user",\n        "content": "{WARHOL}"\n    }}\n]'
    )
    assert build_prompt(IMAGE, c, 10**9) == expected(want)


def test_budget_keeps_only_the_last_message() -> None:
    # The original's case: budget 235 tokens keeps the last user message only.
    c = conv(("user", "hi"), ("assistant", "Hello! How can I assist you today?"), ("user", WARHOL))
    assert select_turns(c.turns, 235) == [("user", WARHOL)]


def test_overflowing_user_turn_is_middle_trimmed() -> None:
    # The original's case: budget 230 trims the older user message to "given…rhol".
    c = conv(
        ("user", "hi"),
        ("assistant", "Hello! How can I assist you today?"),
        ("user", "given the image In style of Andy Warhol"),
        ("assistant", "ok here is the image"),
        ("user", "pls give me another image about Bart and Lisa"),
    )
    assert select_turns(c.turns, 230) == [
        ("user", "given…rhol"),
        ("assistant", "ok here is the image"),
        ("user", "pls give me another image about Bart and Lisa"),
    ]


def test_long_last_message_kept_when_nothing_fits() -> None:
    long = WARHOL + " and this is a very long message" * 10
    c = conv(("user", "hi"), ("user", long))
    assert select_turns(c.turns, 200) == [("user", long)]


def test_huge_message_is_trimmed_to_budget() -> None:
    huge = "HEAD " + "A" * 500_000 + " TAIL"
    (picked,) = select_turns(conv(("user", "x"), ("assistant", "y"), ("user", huge)).turns, 2048)
    assert picked[1].startswith("HEAD ") and picked[1].endswith(" TAIL") and "…" in picked[1]
    assert len(picked[1].encode()) <= 2048 * 4


def test_system_tool_and_empty_turns_are_dropped_and_window_is_16() -> None:
    turns = [Turn("system", "sys"), Turn("tool", "result"), Turn("assistant", "")]
    turns += [Turn("user", f"m{i}") for i in range(20)]
    picked = select_turns(turns, 10**9)
    assert len(picked) == MAX_ROUTING_TURNS
    assert picked[0] == ("user", "m4")


def test_trim_middle_is_utf8_safe() -> None:
    out = trim_middle("é" * 100, 21)
    assert len(out.encode()) <= 21 and "…" in out
    out.encode("utf-8")


def test_non_ascii_is_not_escaped() -> None:
    prompt = build_prompt(IMAGE, conv(("user", "日本語で")), 8192)
    assert '"content": "日本語で"' in prompt


@pytest.mark.parametrize(
    ("content", "route"),
    [
        ('{"route": ["Image generation"]}', "Image generation"),
        ("{'route': ['Image generation']}", "Image generation"),
        ('{"route": [\\n"Image generation"]}', "Image generation"),
        ('{"route": []}', None),
        ('{"route": ["", "unknown", "Image generation"]}', "Image generation"),
        ("", None),
        ("{}", None),
    ],
)
def test_parse_answer(content: str, route: str | None) -> None:
    assert parse_answer(content, IMAGE)[0] == route


@pytest.mark.parametrize("content", ["not json", '{"route": "Image generation"}', "[1"])
def test_parse_answer_rejects_nonsense(content: str) -> None:
    with pytest.raises(RouterFailed):
        parse_answer(content, IMAGE)


def test_conversation_json_matches_python_dumps() -> None:
    c = conv(("user", 'quote " and \\ backslash'))
    rendered = build_prompt(IMAGE, c, 8192)
    assert json.dumps([{"role": "user", "content": c.turns[0].text}], indent=4) in rendered
