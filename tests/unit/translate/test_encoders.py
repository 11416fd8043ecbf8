# ruff: noqa: E501
"""Stream encoders: every upstream stream, re-encoded for every client API, is a valid stream of
that API (each event validated with the official SDK's own models) with its full lifecycle."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.types import RawMessageStreamEvent
from openai.types.chat import ChatCompletionChunk
from openai.types.responses import ResponseStreamEvent
from pydantic import TypeAdapter

from plano import ir
from plano.codec.sse import SseDecoder
from plano.translate import client_codec, upstream_codec
from plano.wire.api import Api
from tests.unit.translate.wire_examples import ANTHROPIC_STREAM, CHAT_STREAM, RESPONSES_STREAM

STREAMS = {
    Api.OPENAI_CHAT: CHAT_STREAM,
    Api.ANTHROPIC_MESSAGES: ANTHROPIC_STREAM,
    Api.OPENAI_RESPONSES: RESPONSES_STREAM,
}
ANTHROPIC_EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)
RESPONSES_EVENT: TypeAdapter[Any] = TypeAdapter(ResponseStreamEvent)
REQUEST = {
    "model": "m",
    "max_tokens": 100,
    "messages": [{"role": "user", "content": "hi"}],
    "input": "hi",
    "stream": True,
}


def upstream_events(api: Api) -> list[ir.Event]:
    codec = upstream_codec(api)
    assert codec is not None
    dec = codec.stream_decoder()
    return dec.feed(STREAMS[api]) + dec.close()


def encode(client: Api, events: list[ir.Event], request: dict[str, Any] = REQUEST) -> bytes:
    codec = client_codec(client)
    assert codec is not None
    enc = codec.stream_encoder(codec.parse_request(request))
    # one event per call, as a stream arrives
    return b"".join(enc.encode([e]) for e in events)


def sse(data: bytes) -> list[tuple[str | None, str]]:
    dec = SseDecoder()
    return [(e.event, e.data) for e in dec.feed(data) + dec.close()]


@pytest.mark.parametrize("upstream", list(STREAMS))
def test_openai_chat_client(upstream: Api) -> None:
    req = dict(REQUEST, stream_options={"include_usage": True})
    frames = sse(encode(Api.OPENAI_CHAT, upstream_events(upstream), req))
    assert frames[-1] == (None, "[DONE]")
    chunks = [ChatCompletionChunk.model_validate(json.loads(d)) for _, d in frames[:-1]]
    assert chunks[0].choices[0].delta.role == "assistant"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [f for f in finishes if f] == ["tool_calls"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    calls: dict[int, list[str]] = {}
    for c in chunks:
        for tc in (c.choices[0].delta.tool_calls or []) if c.choices else []:
            if tc.id:
                assert tc.function is not None and tc.function.name
            calls.setdefault(tc.index, []).append(
                (tc.function.arguments or "") if tc.function else ""
            )
    assert all(json.loads("".join(parts)) is not None for parts in calls.values())


def test_openai_chat_usage_chunk_only_when_asked() -> None:
    frames = sse(encode(Api.OPENAI_CHAT, upstream_events(Api.ANTHROPIC_MESSAGES)))
    chunks = [json.loads(d) for _, d in frames[:-1]]
    assert all(c["choices"] for c in chunks) and "usage" not in chunks[-1]
    # Anthropic thinking reaches OpenAI clients as reasoning_content, never as content
    assert any("reasoning_content" in c["choices"][0]["delta"] for c in chunks)
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks) == "Let me check 🌤"
    )


@pytest.mark.parametrize("upstream", list(STREAMS))
def test_anthropic_client(upstream: Api) -> None:
    frames = sse(encode(Api.ANTHROPIC_MESSAGES, upstream_events(upstream)))
    events = [ANTHROPIC_EVENT.validate_python(json.loads(d)) for _, d in frames]
    assert [name for name, _ in frames] == [e.type for e in events]
    types = [e.type for e in events]
    assert types[0] == "message_start" and types[-2:] == ["message_delta", "message_stop"]
    assert types.count("message_start") == types.count("message_delta") == 1
    assert types.count("content_block_start") == types.count("content_block_stop")
    open_blocks: set[int] = set()
    for e in events:
        if e.type == "content_block_start":
            assert e.index not in open_blocks
            open_blocks.add(e.index)
        elif e.type == "content_block_delta":
            assert e.index in open_blocks
        elif e.type == "content_block_stop":
            open_blocks.remove(e.index)
    assert events[-2].delta.stop_reason == "tool_use"
    tool = next(
        e for e in events if e.type == "content_block_start" and e.content_block.type == "tool_use"
    )
    assert tool.content_block.name in ("get_weather", "lookup")


@pytest.mark.parametrize("upstream", list(STREAMS))
def test_responses_client(upstream: Api) -> None:
    frames = sse(encode(Api.OPENAI_RESPONSES, upstream_events(upstream)))
    events = [RESPONSES_EVENT.validate_python(json.loads(d)) for _, d in frames]
    assert [name for name, _ in frames] == [e.type for e in events]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    assert types.count("response.output_item.added") == types.count("response.output_item.done")
    final = events[-1].response
    assert final.usage is not None and final.usage.output_tokens > 0
    kinds = [o.type for o in final.output]
    assert "function_call" in kinds and "message" in kinds
    call = next(o for o in final.output if o.type == "function_call")
    assert json.loads(call.arguments)


def test_stream_error_ends_each_client_stream() -> None:
    events: list[ir.Event] = [ir.MessageStart("x", "m"), ir.StreamError("boom")]
    chat = encode(Api.OPENAI_CHAT, events)
    assert b'"message":"boom"' in chat and b"[DONE]" not in chat
    ant = sse(encode(Api.ANTHROPIC_MESSAGES, events))
    assert ant[-1][0] == "error" and json.loads(ant[-1][1])["error"]["message"] == "boom"
    resp = sse(encode(Api.OPENAI_RESPONSES, events))
    assert resp[-1][0] == "error"


def test_anthropic_redacted_thinking_round_trip() -> None:
    data = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message",'
        b'"role":"assistant","content":[],"model":"c","usage":{"input_tokens":1,"output_tokens":1}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
        b'"content_block":{"type":"redacted_thinking","data":"EmwKAhgBEgy3va"}}\n\n'
        b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n'
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
        b'"usage":{"output_tokens":3}}\n\n'
        b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    )
    codec = upstream_codec(Api.ANTHROPIC_MESSAGES)
    assert codec is not None
    dec = codec.stream_decoder()
    frames = sse(encode(Api.ANTHROPIC_MESSAGES, dec.feed(data) + dec.close()))
    starts = [json.loads(d) for n, d in frames if n == "content_block_start"]
    assert starts == [
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va"},
        }
    ]
