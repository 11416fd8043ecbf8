from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from plano.agents.prompt_targets import replies
from plano.agents.prompt_targets.answer import ToolCall


def test_state_round_trip() -> None:
    call = ToolCall("call_1234", "weather", {"city": "Rome"})
    meta = replies.metadata(call, "raw", '{"t": 20}')
    state = replies.state_messages({"x-arch-state": meta["x-arch-state"]})
    assert [m["role"] for m in state] == ["assistant", "tool"]
    joined = replies.with_state(
        [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}], state
    )
    assert [m["role"] for m in joined] == ["user", "assistant", "tool", "user"]


@given(st.one_of(st.none(), st.text(), st.dictionaries(st.text(), st.text())))
def test_any_metadata_is_read(metadata: object) -> None:
    assert isinstance(replies.state_messages(metadata), list)
    assert isinstance(replies.state_messages({"x-arch-state": metadata}), list)


def test_llm_request_drops_tool_traffic_and_adds_context() -> None:
    base = {"model": "x", "stream": True, "tools": [], "metadata": {}, "temperature": 0.2}
    messages = [
        {"role": "system", "content": "client system"},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{}]},
        {"role": "tool", "content": "x"},
        {"role": "user", "content": "in Rome"},
    ]
    out = replies.llm_request(base, messages, "openai/gpt-4o", "be brief", '{"t": 20}')
    assert out == {
        "stream": True,
        "temperature": 0.2,
        "model": "openai/gpt-4o",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "weather?"},
            {"role": "user", "content": 'in Rome\ncontext: {"t": 20}'},
        ],
    }


def test_enrich_only_touches_chat_completions() -> None:
    assert replies.enrich(b"not json", {"a": "b"}) == b"not json"
    assert json.loads(replies.enrich(b'{"choices": []}', {"a": "b"}))["metadata"] == {"a": "b"}


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3),
    max_leaves=12,
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["system", "user", "assistant", "tool", "x"])},
    optional={"content": JSONISH, "tool_calls": JSONISH, "tool_call_id": JSONISH},
)


@given(st.lists(MESSAGE, max_size=5), st.dictionaries(st.text(max_size=8), JSONISH, max_size=3))
def test_any_client_conversation_builds_requests(messages: list[Any], base: dict[str, Any]) -> None:
    from plano.agents.prompt_targets import arch_function, native

    tools = [{"type": "function", "function": {"name": "w", "description": "d"}}]
    arch_function.request_body("m", tools, messages)
    arch_function.request_body("m", tools, messages, optimize_context=True)
    native.request_body("m", tools, messages)
    out = replies.llm_request(base, messages, "m", "sys", "ctx")
    assert out["model"] == "m" and out["messages"][0] == {"role": "system", "content": "sys"}
    replies.with_state(messages, replies.state_messages(base))
