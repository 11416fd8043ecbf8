"""Chat Completions replies of the mock: exact wire shapes, streamed and not."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from plano.codec.sse import DONE, SseDecoder
from plano.mock.openai_chat import OpenAIChat, error_body, models_list, split
from plano.mock.request import MockRequest
from plano.mock.script import ReplySpec, ToolCallSpec

CHAT = OpenAIChat()
DEFAULTS = ReplySpec(chunks=5)
WEATHER = ToolCallSpec("get_weather", '{"city":"Paris","days":3}')
TIME = ToolCallSpec("get_time", '{"tz":"Europe/Paris"}')


def request(body: dict[str, Any] | None, path: str = "/v1/chat/completions") -> MockRequest:
    raw = orjson.dumps(body) if body is not None else b""
    return MockRequest.parse("POST", path.encode(), {}, raw, 1)


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": text}], **extra}


def events_of(body: dict[str, Any], spec: ReplySpec = DEFAULTS) -> list[Any]:
    """Decode the streamed reply as a client would: JSON chunks, then the [DONE] marker."""
    reply = CHAT.reply(request(body), spec)
    assert reply.events is not None
    assert reply.content_type.startswith("text/event-stream")
    assert reply.events[-1] == DONE
    decoded = SseDecoder().feed(b"".join(reply.events))
    assert decoded[-1].data == "[DONE]"
    return [orjson.loads(ev.data) for ev in decoded[:-1]]


def test_non_stream_exact_shape() -> None:
    body = user("What is the weather like in Paris this week, please tell me?")
    reply = CHAT.reply(request(body), DEFAULTS)
    assert reply.status == 200
    assert reply.events is None
    obj = orjson.loads(reply.body)
    assert obj["id"].startswith("chatcmpl-")
    assert obj["object"] == "chat.completion"
    assert isinstance(obj["created"], int)
    assert obj["model"] == "gpt-4o"
    text = "mock reply to: What is the weather like in Paris this w"  # first 40 characters
    assert obj["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
            "logprobs": None,
            "finish_reason": "stop",
        }
    ]
    prompt = (len(body["messages"][0]["content"]) + 3) // 4
    completion = (len(text) + 3) // 4
    usage = obj["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (prompt, completion)
    assert usage["total_tokens"] == prompt + completion


def test_non_stream_parallel_tool_calls() -> None:
    spec = ReplySpec(tool_calls=(WEATHER, TIME), usage=(11, 7))
    obj = orjson.loads(CHAT.reply(request(user("hi")), spec).body)
    choice = obj["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    message = choice["message"]
    assert message["content"] is None
    calls = message["tool_calls"]
    assert [c["function"] for c in calls] == [
        {"name": "get_weather", "arguments": WEATHER.arguments},
        {"name": "get_time", "arguments": TIME.arguments},
    ]
    assert all(c["type"] == "function" and c["id"].startswith("call_") for c in calls)
    assert calls[0]["id"] != calls[1]["id"]
    assert obj["usage"]["prompt_tokens"] == 11
    assert obj["usage"]["total_tokens"] == 18


def test_stream_text_chunks() -> None:
    chunks = events_of(user("hello", stream=True), ReplySpec(text="abcdefghij", chunks=3))
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    assert all(c["model"] == "gpt-4o" for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": "", "refusal": None}
    assert [d["content"] for d in deltas[1:-1]] == ["abc", "def", "ghij"]
    assert deltas[-1] == {}
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None] * 4 + ["stop"]
    assert all("usage" not in c for c in chunks)


def test_stream_usage_chunk_only_when_requested() -> None:
    body = user("hello", stream=True, stream_options={"include_usage": True})
    chunks = events_of(body, ReplySpec(text="xyz", chunks=2))
    *content, last = chunks
    assert last["choices"] == []
    assert last["usage"]["completion_tokens"] == 1
    assert all(c["usage"] is None for c in content)  # OpenAI's "usage": null on the others
    without = events_of(user("hello", stream=True, stream_options={"include_usage": False}))
    assert all(c["choices"] and "usage" not in c for c in without)


def test_stream_tool_call_arguments_concatenate_to_full_json() -> None:
    chunks = events_of(user("x", stream=True), ReplySpec(tool_calls=(WEATHER, TIME), chunks=4))
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": None, "refusal": None}
    calls: dict[int, dict[str, str]] = {}
    for delta in deltas[1:-1]:
        (part,) = delta["tool_calls"]
        if "id" in part:  # the first delta of a call: index, id, type, name, empty arguments
            assert part["type"] == "function"
            assert part["function"]["arguments"] == ""
            assert part["index"] not in calls
            calls[part["index"]] = {"id": part["id"], "name": part["function"]["name"], "args": ""}
        else:
            assert set(part) == {"index", "function"}
            calls[part["index"]]["args"] += part["function"]["arguments"]
    assert [(c["name"], orjson.loads(c["args"])) for c in calls.values()] == [
        ("get_weather", {"city": "Paris", "days": 3}),
        ("get_time", {"tz": "Europe/Paris"}),
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_text_with_tool_calls_streams_both() -> None:
    chunks = events_of(user("x", stream=True), ReplySpec(text="Let me check.", tool_calls=(TIME,)))
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert content == "Let me check."


def test_max_tokens_truncates_with_length() -> None:
    obj = orjson.loads(CHAT.reply(request(user("hi", max_tokens=2)), ReplySpec(text="x" * 50)).body)
    assert obj["choices"][0]["message"]["content"] == "x" * 8
    assert obj["choices"][0]["finish_reason"] == "length"


def test_finish_reason_and_default_text_from_parts() -> None:
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "older"},
            {"role": "assistant", "content": "ok"},
            {
                "role": "user",
                "content": [{"type": "text", "text": "part one "}, {"type": "text", "text": "two"}],
            },
        ],
    }
    obj = orjson.loads(CHAT.reply(request(body), ReplySpec(finish_reason="length")).body)
    assert obj["choices"][0]["message"]["content"] == "mock reply to: part one two"
    assert obj["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(
    ("path", "body", "model"),
    [
        ("/v1/chat/completions", {"model": "gpt-4o"}, "gpt-4o"),
        ("/openai/deployments/my-dep/chat/completions", {"messages": []}, "my-dep"),
        ("/v1beta/openai/chat/completions", {"messages": []}, None),
    ],
)
def test_model_from_body_or_azure_path(path: str, body: dict[str, Any], model: str | None) -> None:
    assert CHAT.matches(path)
    assert CHAT.model(request(body, path)) == model


def test_paths_matched() -> None:
    assert not CHAT.matches("/v1/completions")
    assert not CHAT.matches("/v1/chat/completions/x")


def test_error_envelope() -> None:
    assert orjson.loads(error_body(429, "slow down")) == {
        "error": {
            "message": "slow down",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert orjson.loads(error_body(503, "x"))["error"]["type"] == "server_error"
    reply = CHAT.error(401, "bad key")
    assert reply.status == 401
    assert orjson.loads(reply.body)["error"]["code"] == "invalid_api_key"


def test_models_list() -> None:
    assert orjson.loads(models_list(["a"])) == {
        "object": "list",
        "data": [{"id": "a", "object": "model", "created": 0, "owned_by": "plano-mock"}],
    }


@pytest.mark.parametrize(("text", "n"), [("", 5), ("ab", 5), ("abcdefghij", 3), ("é𝄞x", 2)])
def test_split(text: str, n: int) -> None:
    pieces = split(text, n)
    assert "".join(pieces) == text
    assert len(pieces) == min(n, len(text))
    assert all(pieces)
