"""Gemini and Bedrock Converse dialects of the mock: wire shapes, streams, auth, errors."""

from __future__ import annotations

from typing import Any

import orjson

from plano.codec.aws_eventstream import EventStreamDecoder
from plano.codec.sse import SseDecoder
from plano.mock.app import MockApp, MockOptions
from plano.mock.bedrock_converse import BedrockConverse
from plano.mock.gemini import THOUGHT_SIGNATURE, Gemini
from plano.mock.request import MockRequest
from plano.mock.script import ReplySpec, ToolCallSpec

GEMINI = Gemini()
BEDROCK = BedrockConverse()
SPEC = ReplySpec(chunks=3)
KEY = {"x-goog-api-key": "k"}
BEARER = {"authorization": "Bearer bedrock-api-key"}
CALL = ToolCallSpec("get_weather", '{"city":"Paris"}')


def req(path: str, body: dict[str, Any], headers: dict[str, str]) -> MockRequest:
    return MockRequest.parse("POST", path.encode(), headers, orjson.dumps(body), 1)


GEM_BODY = {"contents": [{"role": "user", "parts": [{"text": "Hello there"}]}]}
BR_BODY = {"messages": [{"role": "user", "content": [{"text": "Hello there"}]}]}


def test_gemini_generate_content_shape() -> None:
    path = "/v1beta/models/gemini-2.5-flash:generateContent"
    assert GEMINI.matches(path) and not GEMINI.matches("/v1/chat/completions")
    r = req(path, GEM_BODY, KEY)
    assert GEMINI.model(r) == "gemini-2.5-flash"
    doc = orjson.loads(GEMINI.reply(r, ReplySpec(chunks=3, cached_tokens=2)).body)
    (cand,) = doc["candidates"]
    assert cand["content"] == {"parts": [{"text": "mock reply to: Hello there"}], "role": "model"}
    assert cand["finishReason"] == "STOP"
    assert doc["modelVersion"] == "gemini-2.5-flash"
    usage = doc["usageMetadata"]
    assert usage["cachedContentTokenCount"] == 2
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]


def test_gemini_stream_sse_with_thinking_and_calls() -> None:
    path = "/v1beta/models/gemini-2.5-pro:streamGenerateContent"
    r = MockRequest.parse("POST", (path + "?alt=sse").encode(), KEY, orjson.dumps(GEM_BODY), 1)
    spec = ReplySpec(chunks=2, thinking="Let me think", tool_calls=(CALL,), text="Sure")
    reply = GEMINI.reply(r, spec)
    assert reply.events is not None and all(e.endswith(b"\r\n\r\n") for e in reply.events)
    chunks = [orjson.loads(e.data) for e in SseDecoder().feed(b"".join(reply.events))]
    parts = [c["candidates"][0]["content"]["parts"] for c in chunks]
    assert parts == [
        [{"text": "Let me think", "thought": True}],
        [{"text": "Su"}],
        [{"text": "re"}],
        [
            {
                "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                "thoughtSignature": THOUGHT_SIGNATURE,
            }
        ],
    ]
    assert [c["candidates"][0].get("finishReason") for c in chunks] == [None, None, None, "STOP"]
    assert chunks[-1]["usageMetadata"]["thoughtsTokenCount"] == 3


def test_gemini_stream_without_alt_sse_is_a_json_array() -> None:
    path = "/v1beta/models/m:streamGenerateContent"
    body = orjson.loads(GEMINI.reply(req(path, GEM_BODY, KEY), SPEC).body)
    assert isinstance(body, list) and body[-1]["candidates"][0]["finishReason"] == "STOP"


def test_gemini_max_tokens_and_errors_and_auth() -> None:
    path = "/v1beta/models/m:generateContent"
    body = {**GEM_BODY, "generationConfig": {"maxOutputTokens": 2}}
    doc = orjson.loads(GEMINI.reply(req(path, body, KEY), SPEC).body)
    assert doc["candidates"][0]["finishReason"] == "MAX_TOKENS"
    denied = GEMINI.reply(req(path, GEM_BODY, {}), SPEC)
    assert denied.status == 403
    assert orjson.loads(denied.body)["error"]["status"] == "PERMISSION_DENIED"
    err = orjson.loads(GEMINI.error(429, "quota").body)
    assert err == {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}


def test_bedrock_converse_shape() -> None:
    path = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse"
    r = req(path, BR_BODY, BEARER)
    assert BEDROCK.matches(path)
    assert BEDROCK.model(r) == "anthropic.claude-3-haiku-20240307-v1:0"
    spec = ReplySpec(chunks=3, tool_calls=(CALL,), text="On it", cached_tokens=7)
    doc = orjson.loads(BEDROCK.reply(r, spec).body)
    content = doc["output"]["message"]["content"]
    assert content[0] == {"text": "On it"}
    assert content[1]["toolUse"]["name"] == "get_weather"
    assert content[1]["toolUse"]["input"] == {"city": "Paris"}
    assert content[1]["toolUse"]["toolUseId"].startswith("tooluse_")
    assert doc["stopReason"] == "tool_use"
    assert doc["usage"]["cacheReadInputTokens"] == 7


def test_bedrock_stream_frames() -> None:
    path = "/model/m/converse-stream"
    spec = ReplySpec(chunks=2, thinking="hmm", tool_calls=(CALL,), text="Hi!")
    reply = BEDROCK.reply(req(path, BR_BODY, BEARER), spec)
    assert reply.content_type == "application/vnd.amazon.eventstream"
    assert reply.events is not None
    frames = EventStreamDecoder().feed(b"".join(reply.events))
    assert len(frames) == len(reply.events)
    kinds = [f.header(":event-type") for f in frames]
    assert kinds == [
        "messageStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "contentBlockStart",
        "contentBlockDelta",
        "contentBlockDelta",
        "contentBlockStop",
        "messageStop",
        "metadata",
    ]
    payloads = [orjson.loads(f.payload) for f in frames]
    args = "".join(p["delta"]["toolUse"]["input"] for p in payloads[9:11])
    assert args == '{"city":"Paris"}'
    assert payloads[12] == {"stopReason": "tool_use"}
    assert set(payloads[13]["usage"]) == {"inputTokens", "outputTokens", "totalTokens"}


def test_bedrock_auth_checks() -> None:
    path = "/model/m/converse"
    missing = BEDROCK.reply(req(path, BR_BODY, {}), SPEC)
    assert missing.status == 403
    assert dict(missing.headers)["x-amzn-ErrorType"].startswith(
        "MissingAuthenticationTokenException:"
    )
    bad = BEDROCK.reply(req(path, BR_BODY, {"authorization": "AWS4-HMAC-SHA256 nonsense"}), SPEC)
    assert bad.status == 403
    sigv4 = {
        "authorization": "AWS4-HMAC-SHA256 Credential=AKID/20250101/us-east-1/bedrock/"
        "aws4_request, SignedHeaders=host;x-amz-date, Signature=" + "a" * 64,
        "x-amz-date": "20250101T000000Z",
    }
    assert BEDROCK.reply(req(path, BR_BODY, sigv4), SPEC).status == 200
    err = BEDROCK.error(429, "slow down")
    assert orjson.loads(err.body) == {"message": "slow down"}
    assert dict(err.headers)["x-amzn-ErrorType"].startswith("ThrottlingException:")


def test_default_dialects_include_gemini_and_bedrock() -> None:
    app = MockApp(MockOptions())
    gem, _ = app.handle(req("/v1beta/models/g:generateContent", GEM_BODY, KEY))
    br, _ = app.handle(req("/model/b/converse", BR_BODY, BEARER))
    assert gem.status == 200 and "candidates" in orjson.loads(gem.body)
    assert br.status == 200 and "output" in orjson.loads(br.body)
    assert {"g", "b"} <= set(app.models)


def test_mock_streams_decode_through_the_upstream_codecs() -> None:
    """The gateway's decoders read what the mocks send (same IR as the non-streamed reply)."""
    from plano import ir
    from plano.translate.bedrock_converse import UPSTREAM as BEDROCK_CODEC
    from plano.translate.gemini import UPSTREAM as GEMINI_CODEC

    spec = ReplySpec(chunks=3, thinking="hmm", tool_calls=(CALL,), text="Sure", cached_tokens=4)
    cases = [
        (GEMINI, GEMINI_CODEC, "/v1beta/models/m:streamGenerateContent?alt=sse", GEM_BODY, KEY),
        (BEDROCK, BEDROCK_CODEC, "/model/m/converse-stream", BR_BODY, BEARER),
    ]
    for dialect, codec, path, body, headers in cases:
        r = MockRequest.parse("POST", path.encode(), headers, orjson.dumps(body), 1)
        reply = dialect.reply(r, spec)
        assert reply.events is not None
        dec = codec.stream_decoder()
        events = [e for chunk in reply.events for e in dec.feed(chunk)] + dec.close()
        text = "".join(e.text for e in events if isinstance(e, ir.TextDelta))
        thinking = "".join(e.text for e in events if isinstance(e, ir.ThinkingDelta))
        args = "".join(e.partial_json for e in events if isinstance(e, ir.ToolArgsDelta))
        assert (text, thinking, orjson.loads(args)) == ("Sure", "hmm", {"city": "Paris"})
        final = [e for e in events if isinstance(e, ir.MessageDelta)]
        assert final[0].stop_reason is ir.StopReason.TOOL_USE
        assert final[0].usage.cache_read == 4
        assert isinstance(events[-1], ir.MessageStop)


def test_error_event_fault_uses_each_apis_in_stream_error() -> None:
    from plano.mock.faults import Write, plan
    from plano.mock.script import Fault

    spec = ReplySpec(chunks=2, fault=Fault.ERROR_EVENT, fault_after_chunks=1, message="boom")
    gem_path = "/v1beta/models/m:streamGenerateContent?alt=sse"
    gem = GEMINI.reply(MockRequest.parse("POST", gem_path.encode(), KEY, b"{}", 1), spec)
    assert gem.stream_error is not None
    (event,) = SseDecoder().feed(gem.stream_error)
    assert orjson.loads(event.data)["error"] == {
        "code": 500,
        "message": "boom",
        "status": "INTERNAL",
    }
    br = BEDROCK.reply(req("/model/m/converse-stream", BR_BODY, BEARER), spec)
    steps = plan(br, spec, keep_alive=True)
    sent = b"".join(s.data for s in steps if isinstance(s, Write))
    assert br.stream_error is not None and br.stream_error in sent
    (frame,) = EventStreamDecoder().feed(br.stream_error)
    assert frame.header(":message-type") == "exception"
    assert frame.header(":exception-type") == "internalServerException"
    assert orjson.loads(frame.payload) == {"message": "boom"}
