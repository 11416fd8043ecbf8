"""Client requests with a field of the wrong JSON type: a 400 naming the JSON path at decode time
(`translate.shapes`), never a TypeError later in an upstream encoder. Each case below made the
gateway answer 500 before (issue 15, and what `bench/fuzz_inputs.py` found)."""

from __future__ import annotations

from typing import Any

import pytest

from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate import client_codec, upstream_codec
from plano.translate.gemini_schema import sanitize
from plano.translate.shapes import ShapeError, opt_number, stop_list
from plano.wire.api import Api

MESSAGES = {"model": "m", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
RESPONSES = {"model": "m", "input": "hi"}

CASES: list[tuple[Api, dict[str, Any], str]] = [
    (
        Api.ANTHROPIC_MESSAGES,
        {**MESSAGES, "system": [{"type": "text", "text": None}]},
        "system[0].text: expected a string",
    ),
    (
        Api.ANTHROPIC_MESSAGES,
        {**MESSAGES, "thinking": {"type": "enabled", "budget_tokens": [1]}},
        "thinking.budget_tokens: expected an integer",
    ),
    (
        Api.ANTHROPIC_MESSAGES,
        {**MESSAGES, "messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
        "messages[0].content[0].text: expected a string",
    ),
    (Api.ANTHROPIC_MESSAGES, {**MESSAGES, "temperature": "hot"}, "temperature: expected a number"),
    (Api.ANTHROPIC_MESSAGES, {**MESSAGES, "top_k": True}, "top_k: expected an integer"),
    (
        Api.ANTHROPIC_MESSAGES,
        {**MESSAGES, "stop_sequences": ["a", 1]},
        "stop_sequences[1]: expected a string",
    ),
    (Api.ANTHROPIC_MESSAGES, {**MESSAGES, "metadata": []}, "metadata: expected an object"),
    (Api.ANTHROPIC_MESSAGES, {**MESSAGES, "tools": {}}, "tools: expected an array"),
    (
        Api.OPENAI_RESPONSES,
        {**RESPONSES, "reasoning": {"effort": ["low"]}},
        "reasoning.effort: expected a string",
    ),
    (Api.OPENAI_RESPONSES, {**RESPONSES, "reasoning": "low"}, "reasoning: expected an object"),
    (Api.OPENAI_RESPONSES, {**RESPONSES, "max_output_tokens": 1.5}, "max_output_tokens:"),
    (
        Api.OPENAI_RESPONSES,
        {**RESPONSES, "input": [{"type": "function_call", "call_id": "c", "arguments": {}}]},
        "input[0].arguments: expected a string",
    ),
    (Api.OPENAI_RESPONSES, {**RESPONSES, "text": {"format": []}}, "text.format:"),
    (
        Api.OPENAI_CHAT,
        {**CHAT, "response_format": {"type": "json_schema", "json_schema": [1]}},
        "response_format.json_schema: expected an object",
    ),
    (Api.OPENAI_CHAT, {**CHAT, "reasoning_effort": 3}, "reasoning_effort: expected a string"),
    (Api.OPENAI_CHAT, {**CHAT, "temperature": None, "top_p": [0.1]}, "top_p: expected a number"),
    (
        Api.OPENAI_CHAT,
        {**CHAT, "messages": [{"role": "assistant", "tool_calls": [{"function": {"name": 1}}]}]},
        "messages[0].tool_calls[0]",
    ),
    (
        Api.OPENAI_CHAT,
        {**CHAT, "tools": [{"type": "function", "function": {"name": "f", "parameters": "x"}}]},
        "tools[0].function.parameters: expected an object",
    ),
]


@pytest.mark.parametrize(("api", "doc", "message"), CASES)
def test_a_field_of_the_wrong_type_is_a_400_naming_its_path(
    api: Api, doc: dict[str, Any], message: str
) -> None:
    codec = client_codec(api)
    assert codec is not None
    with pytest.raises(BadRequest) as caught:
        codec.parse_request(doc)
    assert caught.value.status == 400
    assert caught.value.message.startswith(message)


def test_null_is_absent_for_optional_fields() -> None:
    codec = client_codec(Api.OPENAI_CHAT)
    assert codec is not None
    doc = {**CHAT, "temperature": None, "tools": None, "stop": None, "metadata": None}
    request = codec.parse_request(doc)
    assert request.temperature is None and request.tools == [] and request.stop == []


def test_the_param_is_the_top_level_field() -> None:
    with pytest.raises(ShapeError) as caught:
        opt_number({"top_p": "x"}, "top_p", "a.b[2]")
    assert caught.value.param == "a" and caught.value.message == "a.b[2].top_p: expected a number"
    assert stop_list({"stop": "x"}, "stop") == ["x"]


def test_a_schema_with_a_non_object_all_of_is_left_as_it_is() -> None:
    assert sanitize({"type": "object", "allOf": [1]}) == {"type": "OBJECT"}


def test_an_upstream_message_of_the_wrong_shape_is_a_protocol_error_not_a_400() -> None:
    codec = upstream_codec(Api.ANTHROPIC_MESSAGES)
    assert codec is not None
    doc = {"type": "message", "content": [{"type": "text", "text": None}]}
    with pytest.raises(UpstreamProtocolError):
        codec.parse_response(doc)
    chat = upstream_codec(Api.OPENAI_CHAT)
    assert chat is not None
    with pytest.raises(UpstreamProtocolError):
        chat.parse_response({"choices": [{"message": {"content": [{"type": "text"}]}}]})
