"""OpenAI Responses replies of the mock: exact wire shapes, streamed and not."""

from __future__ import annotations

from typing import Any

import orjson

from plano.codec.sse import SseDecoder
from plano.mock.openai_responses import OpenAIResponses
from plano.mock.request import MockRequest
from plano.mock.script import ReplySpec, ToolCallSpec

API = OpenAIResponses()
WEATHER = ToolCallSpec("get_weather", '{"city":"Paris"}')


def request(body: dict[str, Any]) -> MockRequest:
    return MockRequest.parse("POST", b"/v1/responses", {}, orjson.dumps(body), 1)


def test_non_stream_exact_shape() -> None:
    spec = ReplySpec(text="hello", usage=(10, 4), cached_tokens=6, thinking="hm")
    obj = orjson.loads(API.reply(request({"model": "gpt-4.1", "input": "hi"}), spec).body)
    assert obj["id"].startswith("resp_")
    assert (obj["object"], obj["status"], obj["model"]) == ("response", "completed", "gpt-4.1")
    reasoning, message = obj["output"]
    assert reasoning["type"] == "reasoning" and reasoning["id"].startswith("rs_")
    assert reasoning["summary"] == [{"type": "summary_text", "text": "hm"}]
    assert message["type"] == "message" and message["role"] == "assistant"
    assert message["content"] == [
        {"type": "output_text", "text": "hello", "annotations": [], "logprobs": []}
    ]
    assert obj["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 6},
        "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 1},
        "total_tokens": 14,
    }


def test_default_text_and_function_call() -> None:
    body = {
        "model": "m",
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "yo"}]}],
    }
    obj = orjson.loads(API.reply(request(body), ReplySpec()).body)
    assert obj["output"][0]["content"][0]["text"] == "mock reply to: yo"
    obj = orjson.loads(API.reply(request(body), ReplySpec(tool_calls=(WEATHER,))).body)
    (call,) = obj["output"]
    assert call["type"] == "function_call" and call["call_id"].startswith("call_")
    assert (call["name"], call["arguments"]) == ("get_weather", '{"city":"Paris"}')


def test_incomplete_when_truncated() -> None:
    body = {"model": "m", "input": "x", "max_output_tokens": 1}
    obj = orjson.loads(API.reply(request(body), ReplySpec(text="abcdefgh")).body)
    assert obj["status"] == "incomplete"
    assert obj["incomplete_details"] == {"reason": "max_output_tokens"}
    assert obj["output"][0]["content"][0]["text"] == "abcd"


def test_stream_lifecycle() -> None:
    spec = ReplySpec(thinking="abc", text="hello", tool_calls=(WEATHER,), chunks=2)
    reply = API.reply(request({"model": "m", "input": "x", "stream": True}), spec)
    assert reply.events is not None
    events = SseDecoder().feed(b"".join(reply.events))
    data = [orjson.loads(e.data) for e in events]
    assert [e.event for e in events] == [d["type"] for d in data]
    assert [d["sequence_number"] for d in data] == list(range(len(data)))
    kinds = [d["type"] for d in data]
    assert kinds == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert data[0]["response"]["status"] == "in_progress" and data[0]["response"]["output"] == []
    final = data[-1]["response"]
    assert [o["type"] for o in final["output"]] == ["reasoning", "message", "function_call"]
    assert data[16]["item"]["arguments"] == "" and data[16]["item"]["status"] == "in_progress"


def test_model_required() -> None:
    reply = API.reply(request({"input": "x"}), ReplySpec())
    assert reply.status == 400
    assert orjson.loads(reply.body)["error"]["type"] == "invalid_request_error"
