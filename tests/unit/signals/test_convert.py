"""Converters from the Anthropic Messages and Responses dialects, and input robustness."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from plano.signals import analyse, from_anthropic, from_responses
from plano.signals.conversation import FUNCTION_CALL, OBSERVATION, to_rows


def test_from_anthropic_blocks() -> None:
    messages = [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "tu1", "name": "weather", "input": {"city": "Oslo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "tu1", "content": [
                    {"type": "text", "text": "503 Service Unavailable"}]},
                {"type": "text", "text": "No, I meant Oslo in Norway"},
            ],
        },
    ]  # fmt: skip
    out = from_anthropic(messages, system=[{"type": "text", "text": "Be brief."}])
    assert [m["role"] for m in out] == ["system", "user", "assistant", "tool", "user"]
    assert out[2]["tool_calls"][0]["function"] == {
        "name": "weather",
        "arguments": '{"city":"Oslo"}',
    }
    assert out[3] == {"role": "tool", "tool_call_id": "tu1", "content": "503 Service Unavailable"}
    report = analyse(out)
    assert report.types() == {
        "environment.exhaustion.api_error",
        "interaction.misalignment.correction",
    }


def test_from_responses_items() -> None:
    items = [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},
        {"type": "function_call", "call_id": "c1", "name": "lookup", "arguments": '{"q": 1}'},
        {"type": "function_call_output", "call_id": "c1", "output": "401 Unauthorized"},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Denied."}]},
        {"type": "reasoning", "summary": []},
    ]
    out = from_responses(items)
    assert [m["role"] for m in out] == ["user", "assistant", "tool", "assistant"]
    assert analyse(out).types() == {"execution.failure.auth_misuse"}
    assert from_responses("just text") == [{"role": "user", "content": "just text"}]


def test_tool_calls_become_rows_with_the_message_index() -> None:
    msg = {"role": "assistant", "content": "two calls", "tool_calls": [
        {"function": {"name": "a", "arguments": '{"x": 1}'}},
        {"function": {"name": "b", "arguments": "not json"}}]}  # fmt: skip
    rows = to_rows([{"role": "system", "content": "s"}, msg, {"role": "tool", "content": "r"}])
    assert [(r.role, r.message_index) for r in rows] == [
        ("gpt", 1), (FUNCTION_CALL, 1), (FUNCTION_CALL, 1), (OBSERVATION, 2)]  # fmt: skip
    assert rows[1].tool_args == '{"x":1}' and rows[2].tool_args == "not json"


def test_sharegpt_rows() -> None:
    rows = to_rows(
        [{"from": "system", "value": "s"}, {"from": "human", "value": "hi"},
         {"from": "function_call", "value": '{"name": "f", "arguments": {"k": 2}}'},
         {"from": "observation", "value": "ok"}],
        "sharegpt",
    )  # fmt: skip
    assert [(r.role, r.message_index, r.tool_name) for r in rows] == [
        ("human", 1, ""), (FUNCTION_CALL, 2, "f"), (OBSERVATION, 3, "")]  # fmt: skip


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(
        st.sampled_from(["role", "content", "type", "text", "tool_calls", "function", "name",
                         "arguments", "input", "id", "tool_use_id", "from", "value", "output",
                         "call_id", "x"]),
        children, max_size=5),
    max_leaves=20,
)  # fmt: skip
roles = st.sampled_from(["user", "assistant", "tool", "system", "function", "human", "gpt", "x"])
messages = st.lists(
    st.fixed_dictionaries({"role": roles, "content": json_values}, optional={
        "tool_calls": json_values, "function_call": json_values}),
    max_size=8,
) | st.lists(json_values, max_size=6)  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(messages, json_values)
def test_converters_and_analyse_never_raise(msgs: list[Any], system: Any) -> None:
    for converted in (msgs, from_anthropic(msgs, system=system), from_responses(msgs)):
        report = analyse(converted)
        assert report.quality in ("excellent", "good", "neutral", "poor", "severe")
        report.span_attributes()
        report.span_events()
    analyse(msgs, shape="sharegpt").to_json()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=300), max_size=12))
def test_any_text_conversation_is_scored(texts: list[str]) -> None:
    msgs = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(texts)
    ]
    report = analyse(msgs)
    assert 0.0 <= report.quality_score <= 100.0
    assert all(0.0 <= s.confidence <= 1.0 for s in report.signals)
    assert all(0 <= s.message_index < max(len(msgs), 1) for s in report.signals)
