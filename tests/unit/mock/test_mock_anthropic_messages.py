"""Anthropic Messages replies of the mock: exact wire shapes, streamed and not."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from plano.codec.sse import SseDecoder
from plano.mock.anthropic_messages import AnthropicMessages, check_request, error_body
from plano.mock.request import MockRequest
from plano.mock.script import ReplySpec, ToolCallSpec

API = AnthropicMessages()
WEATHER = ToolCallSpec("get_weather", '{"city":"Paris","days":3}')


def request(body: dict[str, Any]) -> MockRequest:
    return MockRequest.parse("POST", b"/v1/messages", {}, orjson.dumps(body), 1)


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-x",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def test_non_stream_exact_shape() -> None:
    spec = ReplySpec(text="hi there", usage=(20, 3), cached_tokens=15)
    obj = orjson.loads(API.reply(request(user("hello")), spec).body)
    assert obj["id"].startswith("msg_")
    assert {k: obj[k] for k in ("type", "role", "model", "stop_reason", "stop_sequence")} == {
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "stop_reason": "end_turn",
        "stop_sequence": None,
    }
    assert obj["content"] == [{"type": "text", "text": "hi there"}]
    usage = obj["usage"]
    assert (usage["input_tokens"], usage["cache_read_input_tokens"]) == (5, 15)
    assert (usage["output_tokens"], usage["cache_creation_input_tokens"]) == (3, 0)


def test_thinking_and_tools_blocks() -> None:
    spec = ReplySpec(thinking="let me see", tool_calls=(WEATHER,))
    obj = orjson.loads(API.reply(request(user("hello")), spec).body)
    thinking, tool = obj["content"]
    assert thinking["type"] == "thinking" and thinking["thinking"] == "let me see"
    assert isinstance(thinking["signature"], str) and thinking["signature"]
    assert tool["type"] == "tool_use" and tool["id"].startswith("toolu_")
    assert (tool["name"], tool["input"]) == ("get_weather", {"city": "Paris", "days": 3})
    assert obj["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("finish", "stop"),
    [("length", "max_tokens"), ("stop", "end_turn"), ("stop_sequence", "stop_sequence")],
)
def test_finish_reason_maps(finish: str, stop: str) -> None:
    obj = orjson.loads(
        API.reply(request(user("x")), ReplySpec(text="t", finish_reason=finish)).body
    )
    assert obj["stop_reason"] == stop


def test_stream_event_order_and_deltas() -> None:
    spec = ReplySpec(thinking="abcdef", text="hello world", tool_calls=(WEATHER,), chunks=3)
    reply = API.reply(request(user("q", stream=True)), spec)
    assert reply.events is not None and reply.content_type.startswith("text/event-stream")
    events = SseDecoder().feed(b"".join(reply.events))
    data = [orjson.loads(e.data) for e in events]
    assert all(e.event == d["type"] for e, d in zip(events, data, strict=True))
    kinds = [d["type"] for d in data]
    assert kinds[:2] == ["message_start", "ping"]
    assert kinds[-2:] == ["message_delta", "message_stop"]
    assert data[0]["message"]["content"] == [] and data[0]["message"]["stop_reason"] is None
    deltas = [d["delta"] for d in data if d["type"] == "content_block_delta"]
    assert "".join(d["thinking"] for d in deltas if d["type"] == "thinking_delta") == "abcdef"
    assert [d["type"] for d in deltas].count("signature_delta") == 1
    assert "".join(d["text"] for d in deltas if d["type"] == "text_delta") == "hello world"
    parts = [d["partial_json"] for d in deltas if d["type"] == "input_json_delta"]
    assert len(parts) == 3 and orjson.loads("".join(parts)) == {"city": "Paris", "days": 3}
    starts = [d["content_block"]["type"] for d in data if d["type"] == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use"]
    assert data[-2]["delta"]["stop_reason"] == "tool_use"
    assert "output_tokens" in data[-2]["usage"]
    assert reply.stream_error is not None and reply.stream_error.startswith(b"event: error\n")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"max_tokens": 5, "messages": []}, "model"),
        ({"model": "m", "messages": []}, "max_tokens"),
        ({"model": "m", "max_tokens": 5}, "messages"),
        ({"model": "m", "max_tokens": 5, "messages": [{"role": "system", "content": "x"}]}, "role"),
    ],
)
def test_request_checked_like_anthropic(body: dict[str, Any], field: str) -> None:
    problem = check_request(body)
    assert problem is not None and field in problem
    reply = API.reply(request(body), ReplySpec())
    assert reply.status == 400
    assert orjson.loads(reply.body)["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, "invalid_request_error"),
        (401, "authentication_error"),
        (403, "permission_error"),
        (404, "not_found_error"),
        (413, "request_too_large"),
        (429, "rate_limit_error"),
        (500, "api_error"),
        (529, "overloaded_error"),
    ],
)
def test_error_envelope(status: int, kind: str) -> None:
    assert orjson.loads(error_body(status, "m")) == {
        "type": "error",
        "error": {"type": kind, "message": "m"},
    }
