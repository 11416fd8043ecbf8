from __future__ import annotations

import json

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
