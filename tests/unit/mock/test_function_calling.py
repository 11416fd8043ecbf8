"""mock-llm as a function-calling model: it learns from the tools in the request."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from plano.mock.function_calling import learned, logprobs
from plano.mock.script import ReplySpec, ToolCallSpec

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_current_weather",
            "description": "Get current weather at a location.",
            "parameters": {
                "type": "object",
                "properties": {
                    "location": {"type": "str", "description": "The city"},
                    "days": {"type": "int", "description": "Number of days"},
                    "unit": {
                        "type": "str",
                        "description": "Unit",
                        "enum": ["celsius", "fahrenheit"],
                    },
                },
                "required": ["location", "days"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "reboot_device",
            "description": "Reboot a network device.",
            "parameters": {
                "type": "object",
                "properties": {"device_id": {"type": "str", "description": "Device id"}},
                "required": ["device_id"],
            },
        },
    },
]


def native(*messages: dict[str, Any], system: str | None = None) -> ReplySpec:
    body: dict[str, Any] = {"model": "m", "tools": TOOLS, "messages": list(messages)}
    if system is not None:
        body["messages"].insert(0, {"role": "system", "content": system})
    return learned(body, ReplySpec())


def u(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def test_the_best_matching_tool_is_called_with_found_values() -> None:
    spec = native(u("What is the weather in San Francisco for 4 days in fahrenheit?"))
    (call,) = spec.tool_calls or ()
    assert call.name == "get_current_weather"
    assert json.loads(call.arguments) == {
        "location": "San Francisco",
        "days": 4,
        "unit": "fahrenheit",
    }
    (reboot,) = native(u("Please reboot the device sw-12")).tool_calls or ()
    assert json.loads(reboot.arguments) == {"device_id": "sw-12"}


def test_a_missing_required_value_is_asked_for() -> None:
    spec = native(u("What is the weather in Oslo?"))
    assert spec.tool_calls is None
    assert spec.text == "Could you tell me number of days?"
    answered = native(
        u("What is the weather in Oslo?"), {"role": "assistant", "content": spec.text}, u("2")
    )
    (call,) = answered.tool_calls or ()
    assert json.loads(call.arguments) == {"location": "Oslo", "days": 2}


def test_no_fitting_tool_follows_the_system_instruction() -> None:
    assert native(u("Tell me a joke")) == ReplySpec()
    spec = native(u("Tell me a joke"), system='If nothing fits, reply with exactly "NONE".')
    assert spec.text == "NONE"


def test_a_scripted_reply_is_not_replaced() -> None:
    scripted = ReplySpec(text="hello")
    body = {"tools": TOOLS, "messages": [u("weather in Oslo for 2 days")]}
    assert learned(body, scripted) is scripted


def arch(
    *messages: dict[str, Any], prefill: str = '```json\n{"', spec: ReplySpec | None = None
) -> str:
    tools = "\n".join(json.dumps(t["function"]) for t in TOOLS)
    system = {
        "role": "system",
        "content": f"Functions:\n<tools>\n{tools}\n</tools>\nAnswer in JSON.",
    }
    body = {"messages": [system, *messages, {"role": "assistant", "content": prefill}]}
    out = learned(body, spec or ReplySpec())
    assert out.text is not None and out.tool_calls is None
    return out.text


def test_arch_function_answers_continue_the_prefill() -> None:
    call = json.loads('{"' + arch(u("weather in Oslo for 2 days")).removesuffix("\n```"))
    assert call == {
        "tool_calls": [
            {"name": "get_current_weather", "arguments": {"location": "Oslo", "days": 2}}
        ]
    }
    ask = json.loads('{"' + arch(u("weather in Oslo")).removesuffix("\n```"))
    assert ask["required_functions"] == ["get_current_weather"] and "days" in ask["clarification"]
    none = json.loads('{"' + arch(u("tell me a joke")).removesuffix("\n```"))
    assert set(none) == {"response"}
    forced = arch(u("weather in Oslo for 2 days"), prefill='```json\n{"required_functions": ')
    assert '"clarification"' in forced
    scripted = ReplySpec(tool_calls=(ToolCallSpec("reboot_device", '{"device_id": "x1"}'),))
    assert '"reboot_device"' in arch(u("hi"), spec=scripted)


def test_logprobs_are_spread_only_on_uncertain_values() -> None:
    text = '{"tool_calls": [{"name": "w", "arguments": {"city": "Paris", "days": 3}}]}'
    tokens = logprobs(text, text, ["city"])
    assert "".join(t["token"] for t in tokens) == text
    unsure = [t["token"] for t in tokens if len(t["top_logprobs"]) > 1]
    assert unsure == ["Paris"]
    assert all(len(t["top_logprobs"]) == 1 for t in logprobs(text, text, []))


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=10), c, max_size=3),
    max_leaves=15,
)
MESSAGES = st.lists(
    st.fixed_dictionaries(
        {"role": st.sampled_from(["system", "user", "assistant", "tool"]), "content": JSONISH}
    ),
    max_size=4,
)


@given(st.one_of(JSONISH, st.fixed_dictionaries({"tools": JSONISH, "messages": MESSAGES})))
def test_any_request_body_is_answered(body: Any) -> None:
    out = learned(body, ReplySpec())
    assert isinstance(out, ReplySpec)


@given(MESSAGES, st.text(max_size=40))
def test_any_arch_conversation_is_answered(messages: list[Any], user_text: str) -> None:
    tools = "\n".join(json.dumps(t["function"]) for t in TOOLS)
    system = {"role": "system", "content": f"<tools>\n{tools}\n</tools>"}
    body = {"messages": [system, *messages, u(user_text), {"role": "assistant", "content": "x"}]}
    out = learned(body, ReplySpec())
    assert out.text is not None
