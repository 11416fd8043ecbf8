"""Bedrock Converse upstream codec: request building, response parsing, ConverseStream frames."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano import ir
from plano.codec.aws_eventstream import encode_frame
from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate.bedrock_converse import UPSTREAM

MODEL = "anthropic.claude-3-7-sonnet-20250219-v1:0"


def build(**kw: object) -> dict[str, object]:
    return UPSTREAM.build_request(ir.Request(model=MODEL, **kw), MODEL)  # type: ignore[arg-type]


def test_full_request_shape() -> None:
    body = build(
        messages=[
            ir.Message("system", [ir.Text("Be brief.", cache_control={"type": "ephemeral"})]),
            ir.Message(
                "user", [ir.Text("Weather?"), ir.Image(data="aGk=", media_type="image/png")]
            ),
            ir.Message(
                "assistant",
                [
                    ir.Thinking("hmm", signature="SIG"),
                    ir.ToolCall("tu1", "get_weather", '{"city":"Paris"}'),
                    ir.ToolCall("tu2", "get_weather", '{"city":"Rome"}'),
                ],
            ),
            ir.Message("tool", [ir.ToolResult("tu1", [ir.Text("21C")])]),
            ir.Message("tool", [ir.ToolResult("tu2", [ir.Text("boom")], is_error=True)]),
        ],
        tools=[ir.Tool("get_weather", "Weather", {"type": "object", "properties": {}})],
        tool_choice=ir.ToolChoice("required"),
        max_tokens=512,
        temperature=0.5,
        stop=["\n\nHuman:"],
        top_k=5,
        reasoning=ir.Reasoning(budget_tokens=2048),
    )
    assert body == {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"text": "Weather?"},
                    {"image": {"format": "png", "source": {"bytes": "aGk="}}},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "hmm", "signature": "SIG"}}},
                    {
                        "toolUse": {
                            "toolUseId": "tu1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    },
                    {
                        "toolUse": {
                            "toolUseId": "tu2",
                            "name": "get_weather",
                            "input": {"city": "Rome"},
                        }
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"toolResult": {"toolUseId": "tu1", "content": [{"text": "21C"}]}},
                    {
                        "toolResult": {
                            "toolUseId": "tu2",
                            "content": [{"text": "boom"}],
                            "status": "error",
                        }
                    },
                ],
            },
        ],
        "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}],
        # Claude with thinking: maxTokens above the budget, no sampling overrides.
        "inferenceConfig": {"maxTokens": 2560, "stopSequences": ["\n\nHuman:"]},
        "toolConfig": {
            "tools": [
                {
                    "toolSpec": {
                        "name": "get_weather",
                        "inputSchema": {"json": {"type": "object", "properties": {}}},
                        "description": "Weather",
                    }
                }
            ],
            "toolChoice": {"any": {}},
        },
        "additionalModelRequestFields": {"thinking": {"type": "enabled", "budget_tokens": 2048}},
    }


def test_model_specific_fields_only_for_claude() -> None:
    msgs = [ir.Message("user", [ir.Text("x")])]
    claude = build(messages=msgs, top_k=5, temperature=0.2)
    assert claude["additionalModelRequestFields"] == {"top_k": 5}
    assert claude["inferenceConfig"] == {"temperature": 0.2}
    nova = UPSTREAM.build_request(
        ir.Request(model="n", messages=msgs, top_k=5, reasoning=ir.Reasoning(effort="high")),
        "us.amazon.nova-pro-v1:0",
    )
    assert "additionalModelRequestFields" not in nova


def test_image_url_is_rejected_with_a_clear_400() -> None:
    with pytest.raises(BadRequest, match="only inline") as info:
        build(messages=[ir.Message("user", [ir.Image(url="https://x.test/a.png")])])
    assert info.value.status == 400


def test_tool_choice_variants() -> None:
    tools = [ir.Tool("f")]
    msgs = [ir.Message("user", [ir.Text("x")])]
    named = build(messages=msgs, tools=tools, tool_choice=ir.ToolChoice("tool", "f"))
    assert named["toolConfig"]["toolChoice"] == {"tool": {"name": "f"}}  # type: ignore[index]
    assert "toolConfig" not in build(messages=msgs, tools=tools, tool_choice=ir.ToolChoice("none"))
    auto = build(messages=msgs, tools=tools)
    assert "toolChoice" not in auto["toolConfig"]  # type: ignore[operator]


# A real Converse answer (Claude 3.7 on Bedrock, tool use), trimmed.
RESPONSE = {
    "metrics": {"latencyMs": 1288},
    "output": {
        "message": {
            "content": [
                {"text": "Let me check."},
                {
                    "toolUse": {
                        "input": {"city": "Paris"},
                        "name": "get_weather",
                        "toolUseId": "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q",
                    }
                },
            ],
            "role": "assistant",
        }
    },
    "stopReason": "tool_use",
    "usage": {
        "inputTokens": 412,
        "outputTokens": 58,
        "totalTokens": 470,
        "cacheReadInputTokens": 128,
        "cacheWriteInputTokens": 0,
    },
}


def test_parse_response() -> None:
    resp = UPSTREAM.parse_response(RESPONSE)
    assert resp.content == [
        ir.Text("Let me check."),
        ir.ToolCall("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", "get_weather", '{"city":"Paris"}'),
    ]
    assert resp.stop_reason is ir.StopReason.TOOL_USE
    assert resp.usage == ir.Usage(input=412, output=58, cache_read=128, cache_write=0)


@pytest.mark.parametrize(
    ("reason", "stop"),
    [
        ("end_turn", ir.StopReason.END_TURN),
        ("max_tokens", ir.StopReason.MAX_TOKENS),
        ("stop_sequence", ir.StopReason.STOP_SEQUENCE),
        ("guardrail_intervened", ir.StopReason.CONTENT_FILTER),
        ("content_filtered", ir.StopReason.CONTENT_FILTER),
    ],
)
def test_stop_reasons(reason: str, stop: ir.StopReason) -> None:
    doc = {"output": {"message": {"role": "assistant", "content": []}}, "stopReason": reason}
    assert UPSTREAM.parse_response(doc).stop_reason is stop


def test_reasoning_blocks_parse() -> None:
    doc = {
        "output": {
            "message": {
                "role": "assistant",
                "content": [
                    {"reasoningContent": {"reasoningText": {"text": "t", "signature": "s"}}},
                    {"reasoningContent": {"redactedContent": "cmVk"}},
                ],
            }
        },
        "stopReason": "end_turn",
    }
    assert UPSTREAM.parse_response(doc).content == [
        ir.Thinking("t", signature="s"),
        ir.Thinking(redacted="cmVk"),
    ]
    with pytest.raises(UpstreamProtocolError):
        UPSTREAM.parse_response({"message": "nope"})


def event(kind: str, payload: object) -> bytes:
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return encode_frame(headers, orjson.dumps(payload))  # type: ignore[arg-type]


STREAM = b"".join(
    [
        event("messageStart", {"p": "abcd", "role": "assistant"}),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "hm"}}},
        ),
        event(
            "contentBlockDelta",
            {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "S"}}},
        ),
        event("contentBlockStop", {"contentBlockIndex": 0}),
        event("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"text": "Hi"}}),
        event("contentBlockStop", {"contentBlockIndex": 1}),
        event(
            "contentBlockStart",
            {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tu1", "name": "f"}}},
        ),
        event(
            "contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": '{"a":'}}}
        ),
        event("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "1}"}}}),
        event("contentBlockStop", {"contentBlockIndex": 2}),
        event("messageStop", {"stopReason": "tool_use"}),
        event(
            "metadata",
            {
                "usage": {"inputTokens": 10, "outputTokens": 5, "cacheReadInputTokens": 4},
                "metrics": {"latencyMs": 100},
            },
        ),
    ]
)


def run(data: bytes, cuts: list[int] = ()) -> list[ir.Event]:  # type: ignore[assignment]
    dec = UPSTREAM.stream_decoder()
    out: list[ir.Event] = []
    last = 0
    for cut in sorted(cuts):
        out += dec.feed(data[last:cut])
        last = cut
    out += dec.feed(data[last:]) + dec.close()
    return [dataclasses.replace(e, id="ID") if isinstance(e, ir.MessageStart) else e for e in out]


def test_stream_lifecycle() -> None:
    assert run(STREAM) == [
        ir.MessageStart("ID", ""),
        ir.BlockStart(0, "thinking"),
        ir.ThinkingDelta(0, "hm"),
        ir.ThinkingDelta(0, signature="S"),
        ir.BlockStop(0),
        ir.BlockStart(1, "text"),
        ir.TextDelta(1, "Hi"),
        ir.BlockStop(1),
        ir.BlockStart(2, "tool_call", "tu1", "f"),
        ir.ToolArgsDelta(2, '{"a":'),
        ir.ToolArgsDelta(2, "1}"),
        ir.BlockStop(2),
        ir.MessageDelta(ir.StopReason.TOOL_USE, usage=ir.Usage(input=10, output=5, cache_read=4)),
        ir.MessageStop(),
    ]


@settings(max_examples=150, deadline=None)
@given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_stream_any_split(cuts: list[int]) -> None:
    assert run(STREAM, cuts) == run(STREAM)


def test_exception_frame_is_a_stream_error() -> None:
    exc = encode_frame(
        {":exception-type": "throttlingException", ":message-type": "exception"},
        b'{"message":"Too many requests, please wait before trying again."}',
    )
    head = event("messageStart", {"role": "assistant"})
    head += event("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hi"}})
    events = run(head + exc)
    assert events[-2] == ir.BlockStop(0)
    assert events[-1] == ir.StreamError(
        "Too many requests, please wait before trying again.", 429, type="throttlingException"
    )


def test_corrupt_and_truncated_streams() -> None:
    bad = bytearray(STREAM)
    bad[len(bad) // 2] ^= 0xFF
    events = run(bytes(bad))
    assert isinstance(events[-1], ir.StreamError) and "corrupt" in events[-1].message
    events = run(event("messageStart", {"role": "assistant"}))
    assert events[-1] == ir.StreamError("Bedrock stream ended before messageStop", 502)
    # messageStop without metadata still ends the message cleanly.
    events = run(event("messageStop", {"stopReason": "end_turn"}))
    assert events[-2:] == [ir.MessageDelta(ir.StopReason.END_TURN), ir.MessageStop()]
