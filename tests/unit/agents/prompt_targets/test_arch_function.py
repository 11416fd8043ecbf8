from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from plano.agents.prompt_targets import arch_function as af
from plano.agents.prompt_targets.repair import balance, loads_repaired, strip_fences

TOOLS = [
    {"type": "function", "function": {"name": "weather", "description": "W", "parameters": {}}}
]


def test_prompt_has_one_function_per_line_in_the_tools_block() -> None:
    prompt = af.system_prompt(TOOLS)
    inside = prompt.split("<tools>\n", 1)[1].split("\n</tools>", 1)[0]
    assert [json.loads(line)["name"] for line in inside.splitlines()] == ["weather"]
    for shape in ('"response"', '"required_functions"', '"clarification"', '"tool_calls"'):
        assert shape in prompt


def test_history_is_rewritten_and_prefilled() -> None:
    messages = [
        {"role": "system", "content": "ignored"},
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "function": {"name": "weather", "arguments": '{"city": "Rome"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        {"role": "user", "content": [{"type": "text", "text": "and tomorrow?"}]},
    ]
    body = af.request_body("Arch-Function", TOOLS, messages)
    assert body is not None
    sent = body["messages"]
    assert sent[0]["role"] == "system" and sent[-1] == {"role": "assistant", "content": af.PREFILL}
    assert (
        sent[2]["content"]
        == '<tool_call>\n{"name":"weather","arguments":{"city":"Rome"}}\n</tool_call>'
    )
    assert sent[3] == {
        "role": "user",
        "content": '<tool_response>\n{"name":"weather","result":"sunny"}\n</tool_response>',
    }
    assert sent[4] == {"role": "user", "content": "and tomorrow?"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
    assert body["logprobs"] is True and body["top_logprobs"] == 10
    blank = af.request_body("m", TOOLS, messages, optimize_context=True)
    assert blank is not None
    assert blank["messages"][3]["content"] == "<tool_response>\n\n</tool_response>"


def test_no_user_turn_last_means_nothing_to_detect() -> None:
    assert af.request_body("m", TOOLS, [{"role": "assistant", "content": "hi"}]) is None


def test_long_history_is_truncated_to_the_budget_keeping_the_last() -> None:
    messages = [{"role": "user", "content": "x" * 3000} for _ in range(5)]
    body = af.request_body("m", TOOLS, messages)
    assert body is not None
    assert 1 <= len(body["messages"]) - 2 < 5


def test_the_three_answer_shapes() -> None:
    calls = af.detection(
        *af.parse_answer('tool_calls": [{"name": "weather", "arguments": {"city": "Rome"}}]}\n```')
    )
    assert [(c.name, c.arguments) for c in calls.calls] == [("weather", {"city": "Rome"})]
    assert calls.calls[0].id.startswith("call_") and 1000 <= int(calls.calls[0].id[5:]) < 11000
    ask = af.detection(
        *af.parse_answer('required_functions": ["weather"], "clarification": "Where?"}')
    )
    assert ask.clarification == "Where?" and not ask.calls
    none = af.detection(*af.parse_answer('response": "Hello!"}```'))
    assert not none.intent
    assert none.raw == '```json\n{"response":"Hello!"}\n```'


def test_repairs() -> None:
    assert loads_repaired('{"a": [1, 2,], }') == {"a": [1, 2]}
    assert loads_repaired('{"a": {"b": "c') == {"a": {"b": "c"}}
    assert loads_repaired("{'a': 'b'}") == {"a": "b"}
    assert loads_repaired('{\\"a\\": 1}') == {"a": 1}
    assert loads_repaired('{"a": 1} and then some text }') == {"a": 1}
    assert strip_fences("```json\n{}\n```") == "{}"
    assert loads_repaired("no json here") is None


@given(st.text())
def test_any_answer_text_is_read_without_error(text: str) -> None:
    obj, raw = af.parse_answer(text)
    assert obj is None or isinstance(obj, dict)
    assert raw.startswith("```json\n")
    af.detection(obj, raw)
    balance(text)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=10,
    )
)
def test_valid_json_survives_repair(value: Any) -> None:
    assert loads_repaired(json.dumps(value)) == value
