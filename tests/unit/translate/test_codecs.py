# ruff: noqa: E501
"""Requests and whole responses through the hub, each API to each other API."""

from __future__ import annotations

import json
from typing import Any

import anthropic.types
import openai.types.chat
import openai.types.responses
import pytest

from plano import ir
from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate import (
    ClientCodec,
    UpstreamCodec,
    client_codec,
    error_message,
    upstream_codec,
)
from plano.translate import anthropic_messages as am
from plano.translate import openai_chat as oc
from plano.translate import openai_responses as orr
from plano.wire.api import Api

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

CHAT_REQUEST: dict[str, Any] = {
    "model": "gpt-4o",
    "messages": [
        {"role": "developer", "content": "Answer in French."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in this image, and the weather?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "call_2",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city":"Lyon"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
        {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "Weather by city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ],
    "tool_choice": "required",
    "parallel_tool_calls": False,
    "stop": "END",
    "temperature": 0.2,
    "reasoning_effort": "medium",
}


def codecs(api: Api) -> tuple[ClientCodec, UpstreamCodec]:
    c, u = client_codec(api), upstream_codec(api)
    assert c is not None and u is not None
    return c, u


def test_chat_request_to_anthropic() -> None:
    req = oc.CLIENT.parse_request(CHAT_REQUEST)
    body = am.UPSTREAM.build_request(req, "claude-sonnet-4-5")
    assert body["system"] == "Answer in French."
    assert body["max_tokens"] == 4096 + 4096  # default raised above the thinking budget
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 4096}
    assert "temperature" not in body  # thinking allows only the default sampling
    assert body["stop_sequences"] == ["END"]
    assert body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    assert body["tools"][0]["input_schema"]["properties"]["city"] == {"type": "string"}
    user, assistant, results = body["messages"]
    assert user["content"][1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
    }
    assert user["content"][2]["source"] == {"type": "url", "url": "https://example.com/cat.jpg"}
    assert [b["input"] for b in assistant["content"]] == [{"city": "Paris"}, {"city": "Lyon"}]
    assert results["role"] == "user"  # both tool results merged into one user turn
    assert [(b["tool_use_id"], b["content"][0]["text"]) for b in results["content"]] == [
        ("call_1", "sunny"),
        ("call_2", "rain"),
    ]


def test_chat_request_round_trips_through_the_hub() -> None:
    body = oc.UPSTREAM.build_request(oc.CLIENT.parse_request(CHAT_REQUEST), "gpt-4o")
    assert body["messages"][0] == {"role": "developer", "content": "Answer in French."}
    assert body["messages"][1]["content"] == CHAT_REQUEST["messages"][1]["content"]
    assert body["messages"][2]["tool_calls"] == CHAT_REQUEST["messages"][2]["tool_calls"]
    assert body["messages"][3:] == CHAT_REQUEST["messages"][3:]
    assert body["tools"] == CHAT_REQUEST["tools"] and body["tool_choice"] == "required"
    assert body["reasoning_effort"] == "medium" and body["stop"] == ["END"]


def test_anthropic_request_to_chat() -> None:
    doc = {
        "model": "claude",
        "max_tokens": 300,
        "system": [{"type": "text", "text": "Be terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": PNG},
                    }
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                    {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "42"}],
                        "is_error": True,
                    }
                ],
            },
        ],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "metadata": {"user_id": "u-1"},
        "top_k": 5,
    }
    req = am.CLIENT.parse_request(doc)
    assert req.messages[0].content == [ir.Text("Be terse.", {"type": "ephemeral"})]
    assert req.reasoning == ir.Reasoning(budget_tokens=2000)
    body = oc.UPSTREAM.build_request(req, "gpt-4o")
    assert body["messages"][1]["content"][0]["image_url"]["url"] == f"data:image/png;base64,{PNG}"
    assert body["messages"][2]["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":1}'}
    assert body["messages"][3] == {"role": "tool", "tool_call_id": "toolu_1", "content": "42"}
    assert body["parallel_tool_calls"] is False and body["tool_choice"] == "auto"
    assert body["user"] == "u-1" and body["max_completion_tokens"] == 300
    # and back to Anthropic: the thinking block and its signature survive the trip
    back = am.UPSTREAM.build_request(req, "claude")
    assert back["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": "hmm",
        "signature": "sig",
    }
    assert back["system"] == doc["system"] and "top_k" not in back


def test_responses_request_items() -> None:
    doc = {
        "model": "x",
        "instructions": "Be nice.",
        "input": [
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "hi"},
                    {"type": "input_image", "image_url": "https://e.com/a.png"},
                ],
            },
            {
                "type": "reasoning",
                "id": "rs_1",
                "summary": [{"type": "summary_text", "text": "think"}],
                "encrypted_content": "enc",
            },
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "c2", "name": "g", "arguments": '{"x":1}'},
            {"type": "function_call_output", "call_id": "c1", "output": "one"},
            {"type": "function_call_output", "call_id": "c2", "output": "two"},
        ],
        "max_output_tokens": 50,
        "text": {"format": {"type": "json_schema", "name": "out", "schema": {"type": "object"}}},
        "tool_choice": {"type": "function", "name": "f"},
        "tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}],
    }
    req = orr.CLIENT.parse_request(doc)
    roles = [m.role for m in req.messages]
    assert roles == ["system", "user", "assistant", "tool", "tool"]
    assert req.messages[2].content == [
        ir.Thinking("think", "enc"),
        ir.ToolCall("c1", "f", "{}"),
        ir.ToolCall("c2", "g", '{"x":1}'),
    ]
    chat = oc.UPSTREAM.build_request(req, "m")
    assert chat["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "out", "schema": {"type": "object"}},
    }
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "f"}}
    messages = am.UPSTREAM.build_request(req, "m")["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    # and back to Responses items for a Responses upstream
    items = orr.UPSTREAM.build_request(req, "m")["input"]
    assert [i["type"] for i in items] == [
        "message",
        "message",
        "reasoning",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]


@pytest.mark.parametrize(
    ("api", "doc", "param"),
    [
        (Api.ANTHROPIC_MESSAGES, {"model": "m", "messages": []}, "max_tokens"),
        (
            Api.OPENAI_CHAT,
            {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
            "messages",
        ),
        (Api.OPENAI_CHAT, {"model": "m"}, "messages"),
        (
            Api.OPENAI_RESPONSES,
            {"model": "m", "input": "x", "tools": [{"type": "file_search"}]},
            "tools",
        ),
        (
            Api.OPENAI_RESPONSES,
            {"model": "m", "input": [{"type": "item_reference", "id": "x"}]},
            "input",
        ),
        (
            Api.ANTHROPIC_MESSAGES,
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [],
                "tools": [{"type": "web_search_20250305", "name": "w"}],
            },
            "tools",
        ),
    ],
)
def test_what_the_client_api_rejects_is_a_bad_request(
    api: Api, doc: dict[str, Any], param: str
) -> None:
    client, _ = codecs(api)
    with pytest.raises(BadRequest) as info:
        client.parse_request(doc)
    assert info.value.param == param


ANTHROPIC_MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [
        {"type": "thinking", "thinking": "Let me think", "signature": "sig=="},
        {"type": "text", "text": "Calling the tool."},
        {"type": "tool_use", "id": "toolu_9", "name": "weather", "input": {"city": "Nice"}},
    ],
    "stop_reason": "tool_use",
    "stop_sequence": None,
    "usage": {
        "input_tokens": 10,
        "output_tokens": 20,
        "cache_read_input_tokens": 5,
        "cache_creation_input_tokens": 2,
    },
}


def test_anthropic_response_for_each_client() -> None:
    resp = am.UPSTREAM.parse_response(ANTHROPIC_MESSAGE)
    assert resp.usage == ir.Usage(input=17, output=20, cache_read=5, cache_write=2)
    chat = openai.types.chat.ChatCompletion.model_validate(
        json.loads(oc.CLIENT.encode_response(resp))
    )
    msg = chat.choices[0]
    assert msg.finish_reason == "tool_calls" and msg.message.content == "Calling the tool."
    assert (
        msg.message.tool_calls and msg.message.tool_calls[0].function.arguments == '{"city":"Nice"}'
    )  # type: ignore[union-attr]
    assert chat.usage is not None and chat.usage.prompt_tokens == 17
    r = openai.types.responses.Response.model_validate(json.loads(orr.CLIENT.encode_response(resp)))
    assert [o.type for o in r.output] == ["reasoning", "message", "function_call"]
    assert r.output_text == "Calling the tool."
    back = anthropic.types.Message.model_validate(json.loads(am.CLIENT.encode_response(resp)))
    assert back.model_dump(exclude_none=True)["content"] == ANTHROPIC_MESSAGE["content"]
    assert back.usage.input_tokens == 10 and back.usage.cache_creation_input_tokens == 2


def test_chat_and_responses_responses_parse() -> None:
    chat = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "refusal": "I can't help."},
                "finish_reason": "content_filter",
            }
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7},
    }
    resp = oc.UPSTREAM.parse_response(chat)
    assert resp.content == [ir.Refusal("I can't help.")]
    assert resp.stop_reason is ir.StopReason.CONTENT_FILTER
    assert json.loads(am.CLIENT.encode_response(resp))["stop_reason"] == "refusal"
    incomplete = {
        "id": "resp_1",
        "object": "response",
        "status": "incomplete",
        "incomplete_details": {"reason": "max_output_tokens"},
        "model": "m",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": "par"}]}],
    }
    r = orr.UPSTREAM.parse_response(incomplete)
    assert r.stop_reason is ir.StopReason.MAX_TOKENS and r.content == [ir.Text("par")]
    assert json.loads(oc.CLIENT.encode_response(r))["choices"][0]["finish_reason"] == "length"
    with pytest.raises(UpstreamProtocolError):
        orr.UPSTREAM.parse_response({"object": "list"})
    with pytest.raises(UpstreamProtocolError):
        oc.UPSTREAM.parse_response({"choices": []})


@pytest.mark.parametrize("stop", list(ir.StopReason))
def test_every_stop_reason_maps_to_every_client(stop: ir.StopReason) -> None:
    resp = ir.Response("id", "m", [ir.Text("x")], stop)
    finish = json.loads(oc.CLIENT.encode_response(resp))["choices"][0]["finish_reason"]
    assert finish in ("stop", "length", "tool_calls", "content_filter")
    assert json.loads(am.CLIENT.encode_response(resp))["stop_reason"] in am.STOP_TO_IR
    status = json.loads(orr.CLIENT.encode_response(resp))["status"]
    assert status in ("completed", "incomplete")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"error":{"message":"bad key","type":"invalid_request_error"}}', "bad key"),
        (
            b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
            "Overloaded",
        ),
        (
            b'{"message":"The security token included in the request is invalid."}',
            "The security token included in the request is invalid.",
        ),
        (b"upstream exploded", "upstream exploded"),
    ],
)
def test_error_message_of_each_dialect(body: bytes, message: str) -> None:
    assert error_message(body) == message


def test_unsigned_reasoning_is_not_sent_to_anthropic() -> None:
    req = ir.Request(
        "m",
        [
            ir.Message("user", [ir.Text("q")]),
            ir.Message("assistant", [ir.Thinking("from another vendor"), ir.Text("a")]),
            ir.Message("user", [ir.Text("q2")]),
        ],
    )
    body = am.UPSTREAM.build_request(req, "claude")
    assert body["messages"][1]["content"] == [{"type": "text", "text": "a"}]
