"""Gemini upstream codec: request building, response parsing, stream decoding at every split."""

from __future__ import annotations

import dataclasses

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano import ir
from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate.gemini import UPSTREAM
from plano.translate.gemini_schema import sanitize
from plano.translate.gemini_stream import GeminiStreamDecoder


def build(**kw: object) -> dict[str, object]:
    return UPSTREAM.build_request(ir.Request(model="gemini-2.5-flash", **kw), "gemini-2.5-flash")  # type: ignore[arg-type]


def test_text_system_and_roles() -> None:
    body = build(
        messages=[
            ir.Message("system", [ir.Text("Be brief.")]),
            ir.Message("user", [ir.Text("Hi")]),
            ir.Message("assistant", [ir.Text(""), ir.Text("Hello!")]),
            ir.Message("user", [ir.Text("Weather?")]),
        ],
        max_tokens=100,
        temperature=0.2,
        top_p=0.9,
        top_k=40,
        stop=["END"],
    )
    assert body == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hi"}]},
            {"role": "model", "parts": [{"text": "Hello!"}]},
            {"role": "user", "parts": [{"text": "Weather?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "maxOutputTokens": 100,
            "temperature": 0.2,
            "topP": 0.9,
            "topK": 40,
            "stopSequences": ["END"],
        },
    }


def test_images_inline_data_url_and_file_uri() -> None:
    body = build(
        messages=[
            ir.Message(
                "user",
                [
                    ir.Image(data="aGVsbG8=", media_type="image/png"),
                    ir.Image(url="data:image/jpeg;base64,/9j/4A=="),
                    ir.Image(url="https://example.com/cat.webp"),
                ],
            )
        ]
    )
    assert body["contents"] == [
        {
            "role": "user",
            "parts": [
                {"inlineData": {"mimeType": "image/png", "data": "aGVsbG8="}},
                {"inlineData": {"mimeType": "image/jpeg", "data": "/9j/4A=="}},
                {
                    "fileData": {
                        "mimeType": "image/webp",
                        "fileUri": "https://example.com/cat.webp",
                    }
                },
            ],
        }
    ]


def test_tools_calls_results_and_choice() -> None:
    params = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"type": ["string", "null"]}},
        "required": ["city"],
        "additionalProperties": False,
    }
    body = build(
        messages=[
            ir.Message("user", [ir.Text("Weather in Paris and Rome?")]),
            ir.Message(
                "assistant",
                [
                    ir.Thinking("", signature="sig-1"),
                    ir.ToolCall("c1", "get_weather", '{"city":"Paris"}'),
                    ir.ToolCall("c2", "get_weather", '{"city":"Rome"}'),
                ],
            ),
            ir.Message("tool", [ir.ToolResult("c1", [ir.Text('{"temp":21}')])]),
            ir.Message("tool", [ir.ToolResult("c2", [ir.Text("sunny")])]),
        ],
        tools=[
            ir.Tool("get_weather", "Weather by city", params),
            ir.Tool("now", "Current time"),
        ],
        tool_choice=ir.ToolChoice("tool", "get_weather"),
    )
    assert body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                    "thoughtSignature": "sig-1",
                },
                {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp": 21}}},
                {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}},
            ],
        },
    ]
    assert body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather by city",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {
                            "city": {"type": "STRING"},
                            "unit": {"type": "STRING", "nullable": True},
                        },
                        "required": ["city"],
                    },
                },
                {"name": "now", "description": "Current time"},
            ]
        }
    ]
    assert body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }


def test_tool_result_without_matching_call_is_400() -> None:
    with pytest.raises(BadRequest, match="answers no tool call"):
        build(messages=[ir.Message("tool", [ir.ToolResult("nope", [ir.Text("x")])])])


def test_reasoning_and_json_mode() -> None:
    body = build(
        messages=[ir.Message("user", [ir.Text("x")])],
        reasoning=ir.Reasoning(effort="low"),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object", "properties": {}}},
        },
    )
    assert body["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": {}},
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024},
    }
    off = build(messages=[], reasoning=ir.Reasoning(enabled=False))
    assert "generationConfig" not in off
    minimal = build(messages=[], reasoning=ir.Reasoning(effort="minimal"))
    assert minimal["generationConfig"] == {
        "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 128}
    }


def test_schema_sanitizer_rewrites_and_strips() -> None:
    schema = {
        "$schema": "x",
        "$defs": {"Pt": {"type": "object", "properties": {"x": {"type": "number"}}}},
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "p": {"$ref": "#/$defs/Pt"},
            "mode": {"const": "fast"},
            "when": {"type": "string", "format": "date-time"},
            "mail": {"type": "string", "format": "email"},
            "n": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 1}},
        },
        "required": ["p", "ghost"],
    }
    assert sanitize(schema) == {
        "type": "OBJECT",
        "properties": {
            "p": {"type": "OBJECT", "properties": {"x": {"type": "NUMBER"}}},
            "mode": {"enum": ["fast"], "type": "STRING"},
            "when": {"type": "STRING", "format": "date-time"},
            "mail": {"type": "STRING"},
            "n": {"anyOf": [{"type": "INTEGER"}, {"type": "STRING"}]},
            "tags": {"type": "ARRAY", "items": {"type": "STRING", "minLength": 1}},
        },
        "required": ["p"],
    }
    assert "additionalProperties" in schema  # input untouched


def test_schema_recursive_ref_is_cut() -> None:
    schema = {
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
        "$ref": "#/$defs/Node",
    }
    out = sanitize(schema)
    depth = 0
    node = out
    while "properties" in node:
        node = node["properties"]["next"]
        depth += 1
    assert depth == 8 and node == {"type": "OBJECT"}


# A real generateContent answer (gemini-2.5-flash, thinking on), trimmed of safety ratings.
RESPONSE = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {"text": "**Planning**", "thought": True},
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": "CiQB0e2Kb...",
                    },
                ],
                "role": "model",
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 58,
        "candidatesTokenCount": 15,
        "totalTokenCount": 120,
        "cachedContentTokenCount": 32,
        "thoughtsTokenCount": 47,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 58}],
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "8bQsaLnWFqOvnvgPxe2Y2Qk",
}


def test_parse_response_thinking_tool_call_usage() -> None:
    resp = UPSTREAM.parse_response(RESPONSE)
    assert resp.id == "8bQsaLnWFqOvnvgPxe2Y2Qk"
    assert resp.model == "gemini-2.5-flash"
    assert resp.stop_reason is ir.StopReason.TOOL_USE
    thinking, signature, call = resp.content
    assert thinking == ir.Thinking("**Planning**")
    assert signature == ir.Thinking("", signature="CiQB0e2Kb...")
    assert isinstance(call, ir.ToolCall) and call.name == "get_weather"
    assert orjson.loads(call.arguments) == {"city": "Paris"}
    assert call.id.startswith("call_")
    assert resp.usage == ir.Usage(input=58, output=62, cache_read=32, reasoning=47)


@pytest.mark.parametrize(
    ("reason", "stop"),
    [
        ("MAX_TOKENS", ir.StopReason.MAX_TOKENS),
        ("SAFETY", ir.StopReason.CONTENT_FILTER),
        ("RECITATION", ir.StopReason.CONTENT_FILTER),
        ("MALFORMED_FUNCTION_CALL", ir.StopReason.ERROR),
        ("STOP", ir.StopReason.END_TURN),
    ],
)
def test_finish_reasons(reason: str, stop: ir.StopReason) -> None:
    doc = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert UPSTREAM.parse_response(doc).stop_reason is stop


def test_blocked_prompt_is_a_refusal() -> None:
    doc = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5}}
    resp = UPSTREAM.parse_response(doc)
    assert resp.stop_reason is ir.StopReason.CONTENT_FILTER
    assert isinstance(resp.content[0], ir.Refusal)


def test_not_a_response_is_a_protocol_error() -> None:
    with pytest.raises(UpstreamProtocolError):
        UPSTREAM.parse_response({"hello": 1})


def sse(*docs: object) -> bytes:
    return b"".join(b"data: " + orjson.dumps(d) + b"\r\n\r\n" for d in docs)


STREAM = sse(
    {
        "candidates": [
            {"content": {"parts": [{"text": "think", "thought": True}], "role": "model"}}
        ],
        "usageMetadata": {"promptTokenCount": 9},
        "modelVersion": "gemini-2.5-pro",
        "responseId": "r1",
    },
    {
        "candidates": [
            {"content": {"parts": [{"text": "", "thought": True, "thoughtSignature": "S"}]}}
        ],
        "responseId": "r1",
    },
    {"candidates": [{"content": {"parts": [{"text": "Hel"}], "role": "model"}}]},
    {"candidates": [{"content": {"parts": [{"text": "lo"}], "role": "model"}}]},
    {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"functionCall": {"name": "f", "args": {"a": 1}}},
                        {"functionCall": {"name": "g", "args": {}}},
                    ],
                    "role": "model",
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 9,
            "candidatesTokenCount": 4,
            "thoughtsTokenCount": 3,
            "cachedContentTokenCount": 2,
        },
    },
)


def normalized(events: list[ir.Event]) -> list[ir.Event]:
    return [
        dataclasses.replace(e, tool_call_id="ID") if isinstance(e, ir.BlockStart) else e
        for e in events
    ]


def test_stream_lifecycle() -> None:
    dec = GeminiStreamDecoder()
    events = normalized(dec.feed(STREAM) + dec.close())
    assert events == [
        ir.MessageStart("r1", "gemini-2.5-pro", ir.Usage(input=9)),
        ir.BlockStart(0, "thinking", "ID"),
        ir.ThinkingDelta(0, "think"),
        ir.ThinkingDelta(0, signature="S"),
        ir.BlockStop(0),
        ir.BlockStart(1, "text", "ID"),
        ir.TextDelta(1, "Hel"),
        ir.TextDelta(1, "lo"),
        ir.BlockStop(1),
        ir.BlockStart(2, "tool_call", "ID", "f"),
        ir.ToolArgsDelta(2, '{"a":1}'),
        ir.BlockStop(2),
        ir.BlockStart(3, "tool_call", "ID", "g"),
        ir.ToolArgsDelta(3, "{}"),
        ir.BlockStop(3),
        ir.MessageDelta(
            ir.StopReason.TOOL_USE, usage=ir.Usage(input=9, output=7, cache_read=2, reasoning=3)
        ),
        ir.MessageStop(),
    ]


@settings(max_examples=150, deadline=None)
@given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=12))
def test_stream_any_split(cuts: list[int]) -> None:
    whole = GeminiStreamDecoder()
    expected = normalized(whole.feed(STREAM) + whole.close())
    dec = GeminiStreamDecoder()
    got: list[ir.Event] = []
    last = 0
    for cut in sorted(cuts):
        got += dec.feed(STREAM[last:cut])
        last = cut
    got += dec.feed(STREAM[last:]) + dec.close()
    assert normalized(got) == expected


def test_stream_error_event_and_truncation() -> None:
    err = sse(
        {"error": {"code": 429, "message": "Resource exhausted", "status": "RESOURCE_EXHAUSTED"}}
    )
    dec = GeminiStreamDecoder()
    assert dec.feed(err) == [ir.StreamError("Resource exhausted", 429)]
    assert dec.close() == []
    cut = GeminiStreamDecoder()
    boundary = STREAM.index(b"\r\n\r\n", STREAM.index(b"Hel")) + 4
    events = cut.feed(STREAM[:boundary]) + cut.close()
    assert isinstance(events[-1], ir.StreamError) and "before its finish" in events[-1].message
    assert isinstance(events[-2], ir.BlockStop)
    assert GeminiStreamDecoder().close() == [
        ir.StreamError("Gemini stream ended without a response", 502)
    ]
