"""Gemini and Bedrock Converse upstreams end to end: official SDKs -> gateway -> mock-llm.

The mock speaks Gemini generateContent and Bedrock Converse natively (its own dialects); each test
checks both sides: the exact upstream request (path, auth, JSON) and what the SDK parsed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from plano.codec.aws_eventstream import EventStreamDecoder
from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration

CALLS = [
    {"name": "get_weather", "arguments": {"city": "Paris"}},
    {"name": "get_weather", "arguments": {"city": "Rome"}},
]
OAI_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather of a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
                "additionalProperties": False,
            },
        },
    }
]
SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=AKIDTEST/\d{8}/eu-west-1/bedrock/aws4_request, "
    r"SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date, Signature=[0-9a-f]{64}$"
)
BEDROCK_MODEL = "anthropic.claude-3-7-sonnet-20250219-v1:0"


def config(upstream: Any) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 5s}}
model_providers:
  - model: gemini/gemini-2.5-flash
    access_key: goog-secret
    base_url: {upstream.base_url}
    default: true
  - model: amazon_bedrock/{BEDROCK_MODEL}
    access_key: bedrock-api-key
    base_url: {upstream.base_url}
  - model: amazon/us.amazon.nova-pro-v1:0
    base_url: {upstream.base_url}
"""


_clients: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def oai(gw: Any) -> openai.OpenAI:
    c = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="client-key", max_retries=0)
    _clients.append(c)
    return c


def ant(gw: Any) -> anthropic.Anthropic:
    c = anthropic.Anthropic(base_url=gw.url(), api_key="client-key", max_retries=0)
    _clients.append(c)
    return c


# --- Gemini -------------------------------------------------------------------------------------


def test_openai_chat_to_gemini_whole(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script(
        {
            "text": "Bonjour!",
            "usage": {"prompt_tokens": 11, "completion_tokens": 3},
            "cached_tokens": 4,
        }
    )
    with gateway(config(upstream)) as gw:
        resp = oai(gw).chat.completions.create(
            model="gemini/gemini-2.5-flash",
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Say hello in French"},
            ],
            max_tokens=64,
            temperature=0.3,
            stop=["END"],
        )
    assert resp.choices[0].message.content == "Bonjour!"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens) == (11, 3)
    assert resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens_details.cached_tokens == 4
    (req,) = upstream.requests
    assert req.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert req.headers["x-goog-api-key"] == "goog-secret"
    assert "authorization" not in req.headers
    assert req.body == {
        "contents": [{"role": "user", "parts": [{"text": "Say hello in French"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"maxOutputTokens": 64, "temperature": 0.3, "stopSequences": ["END"]},
    }


def test_openai_chat_to_gemini_stream_with_tools(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"tool_calls": CALLS})
    with gateway(config(upstream)) as gw:
        stream = oai(gw).chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "Weather in Paris and Rome?"}],
            tools=OAI_TOOLS,
            tool_choice="required",
            stream=True,
        )
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for chunk in stream:
            for choice in chunk.choices:
                for tc in choice.delta.tool_calls or []:
                    entry = calls.setdefault(tc.index, {"id": "", "name": "", "args": ""})
                    if tc.id:
                        entry["id"] = tc.id
                    if tc.function and tc.function.name:
                        entry["name"] = tc.function.name
                    if tc.function and tc.function.arguments:
                        entry["args"] += tc.function.arguments
                finish = choice.finish_reason or finish
    assert [(c["name"], json.loads(c["args"])) for c in calls.values()] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Rome"}),
    ]
    assert all(c["id"] for c in calls.values()) and calls[0]["id"] != calls[1]["id"]
    assert finish == "tool_calls"
    (req,) = upstream.requests
    assert req.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert req.query == "alt=sse"
    assert req.body["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather of a city",
                    "parameters": {
                        "type": "OBJECT",
                        "properties": {"city": {"type": "STRING"}},
                        "required": ["city"],
                    },
                }
            ]
        }
    ]
    assert req.body["toolConfig"] == {"functionCallingConfig": {"mode": "ANY"}}


def test_anthropic_to_gemini_tool_round_trip_and_thinking(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"text": "It is sunny.", "thinking": "The tool said sunny."})
    with gateway(config(upstream)) as gw:
        msg = ant(gw).messages.create(
            model="gemini/gemini-2.5-flash",
            max_tokens=256,
            messages=[
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": [
                        {
                            "type": "tool_use",
                            "id": "toolu_1",
                            "name": "get_weather",
                            "input": {"city": "Paris"},
                        }
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}
                    ],
                },
            ],
        )
    kinds = [b.type for b in msg.content]
    assert kinds == ["thinking", "text"]
    assert msg.content[0].thinking == "The tool said sunny."  # type: ignore[union-attr]
    assert msg.content[1].text == "It is sunny."  # type: ignore[union-attr]
    (req,) = upstream.requests
    assert req.body["contents"] == [
        {"role": "user", "parts": [{"text": "Weather in Paris?"}]},
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"result": "sunny"}}}
            ],
        },
    ]


def test_gemini_error_keeps_status_in_client_envelope(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"status": 429, "message": "Resource has been exhausted (e.g. check quota)."})
    with gateway(config(upstream)) as gw, pytest.raises(openai.RateLimitError) as info:
        oai(gw).chat.completions.create(
            model="gemini-2.5-flash", messages=[{"role": "user", "content": "hi"}]
        )
    assert "Resource has been exhausted" in str(info.value)


# --- Bedrock ------------------------------------------------------------------------------------


def test_openai_chat_to_bedrock_whole_with_bearer(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script(
        {
            "text": "Hi there",
            "usage": {"prompt_tokens": 20, "completion_tokens": 2},
            "cached_tokens": 8,
        }
    )
    with gateway(config(upstream)) as gw:
        resp = oai(gw).chat.completions.create(
            model=f"amazon_bedrock/{BEDROCK_MODEL}",
            messages=[
                {"role": "system", "content": "Be kind."},
                {"role": "user", "content": "Hello"},
            ],
            max_tokens=100,
        )
    assert resp.choices[0].message.content == "Hi there"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.usage is not None and resp.usage.prompt_tokens_details is not None
    assert resp.usage.prompt_tokens_details.cached_tokens == 8
    (req,) = upstream.requests
    assert req.path == "/model/anthropic.claude-3-7-sonnet-20250219-v1%3A0/converse"
    assert req.headers["authorization"] == "Bearer bedrock-api-key"
    assert req.body == {
        "messages": [{"role": "user", "content": [{"text": "Hello"}]}],
        "system": [{"text": "Be kind."}],
        "inferenceConfig": {"maxTokens": 100},
    }


def test_openai_chat_to_bedrock_stream_sigv4_tools(
    upstream: Any, gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-test-key")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    upstream.script({"tool_calls": CALLS, "usage": {"prompt_tokens": 30, "completion_tokens": 9}})
    with gateway(config(upstream)) as gw:
        stream = oai(gw).chat.completions.create(
            model="amazon/us.amazon.nova-pro-v1:0",
            messages=[{"role": "user", "content": "Weather in Paris and Rome?"}],
            tools=OAI_TOOLS,
            stream=True,
            stream_options={"include_usage": True},
        )
        args: dict[int, str] = {}
        usage = None
        for chunk in stream:
            usage = chunk.usage or usage
            for choice in chunk.choices:
                for tc in choice.delta.tool_calls or []:
                    if tc.function and tc.function.arguments:
                        args[tc.index] = args.get(tc.index, "") + tc.function.arguments
    assert [json.loads(a) for a in args.values()] == [{"city": "Paris"}, {"city": "Rome"}]
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (30, 9)
    (req,) = upstream.requests
    assert req.path == "/model/us.amazon.nova-pro-v1%3A0/converse-stream"
    assert SIGV4.match(req.headers["authorization"]), req.headers["authorization"]
    assert re.fullmatch(r"\d{8}T\d{6}Z", req.headers["x-amz-date"])
    assert "secret-test-key" not in json.dumps(req.headers)
    assert req.body["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"


def test_anthropic_to_bedrock_stream_thinking(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"text": "42", "thinking": "Deep thought."})
    with (
        gateway(config(upstream)) as gw,
        ant(gw).messages.stream(
            model=f"amazon_bedrock/{BEDROCK_MODEL}",
            max_tokens=2048,
            thinking={"type": "enabled", "budget_tokens": 1024},
            messages=[{"role": "user", "content": "The answer?"}],
        ) as stream,
    ):
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "Deep thought."  # type: ignore[union-attr]
    assert final.content[0].signature  # type: ignore[union-attr]
    assert final.content[1].text == "42"  # type: ignore[union-attr]
    assert final.stop_reason == "end_turn"
    (req,) = upstream.requests
    assert req.path.endswith("/converse-stream")
    assert req.body["additionalModelRequestFields"] == {
        "thinking": {"type": "enabled", "budget_tokens": 1024}
    }


def test_bedrock_rejects_image_urls_before_sending(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream)) as gw, pytest.raises(openai.BadRequestError) as info:
        oai(gw).chat.completions.create(
            model=f"amazon_bedrock/{BEDROCK_MODEL}",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}},
                    ],
                }
            ],
        )
    assert "only inline" in str(info.value)
    assert upstream.requests == []


def test_bedrock_stream_exception_frame_reaches_the_client(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script({"fault": "malformed_chunk", "fault_after_chunks": 2})
    with (
        gateway(config(upstream)) as gw,
        ant(gw).messages.stream(
            model=f"amazon_bedrock/{BEDROCK_MODEL}",
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
        ) as stream,
        pytest.raises(anthropic.APIStatusError) as info,
    ):
        stream.get_final_message()
    assert "corrupt" in str(info.value)


def test_mock_bedrock_stream_is_real_eventstream(upstream: Any) -> None:
    """Sanity check of the fake itself: its stream decodes as AWS event-stream frames."""
    import urllib.request

    req = urllib.request.Request(
        f"{upstream.base_url}/model/m/converse-stream",
        data=b'{"messages": [{"role": "user", "content": [{"text": "hi"}]}]}',
        headers={"authorization": "Bearer k", "content-type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=5) as resp:
        assert resp.headers["content-type"] == "application/vnd.amazon.eventstream"
        frames = EventStreamDecoder().feed(resp.read())
    assert frames[0].header(":event-type") == "messageStart"
    assert frames[-1].header(":event-type") == "metadata"


def test_bedrock_exception_frame_mid_stream(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"fault": "error_event", "fault_after_chunks": 2, "message": "Model fell over"})
    with (
        gateway(config(upstream)) as gw,
        ant(gw).messages.stream(
            model=f"amazon_bedrock/{BEDROCK_MODEL}",
            max_tokens=64,
            messages=[{"role": "user", "content": "hi"}],
        ) as stream,
        pytest.raises(anthropic.APIStatusError) as info,
    ):
        stream.get_final_message()
    assert "Model fell over" in str(info.value)


def test_gemini_error_event_mid_stream(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"fault": "error_event", "fault_after_chunks": 1, "message": "Backend died"})
    texts: list[str] = []
    with gateway(config(upstream)) as gw, pytest.raises(openai.APIError) as info:
        for chunk in oai(gw).chat.completions.create(
            model="gemini-2.5-flash",
            messages=[{"role": "user", "content": "Tell me a long story please"}],
            stream=True,
        ):
            texts.extend(c.delta.content or "" for c in chunk.choices)
    assert "Backend died" in str(info.value)
    got = "".join(texts)  # the first of five text chunks, then the error
    assert got and "mock reply to: Tell me a long story please".startswith(got)
    assert len(got) < len("mock reply to: Tell me a long story please")


def test_responses_client_to_gemini_stream_and_bedrock_whole(
    upstream: Any, gateway: GatewayFactory
) -> None:
    upstream.script(
        {"text": "Streamed words", "usage": {"prompt_tokens": 7, "completion_tokens": 2}},
        {"text": "Whole words"},
    )
    with gateway(config(upstream)) as gw:
        events = list(
            oai(gw).responses.create(
                model="gemini/gemini-2.5-flash",
                instructions="Be brief.",
                input="Say something",
                stream=True,
            )
        )
        whole = oai(gw).responses.create(
            model=f"amazon_bedrock/{BEDROCK_MODEL}", input="Say something else"
        )
    done = [e for e in events if e.type == "response.completed"]
    assert len(done) == 1
    assert done[0].response.output_text == "Streamed words"
    assert done[0].response.usage is not None and done[0].response.usage.input_tokens == 7
    assert whole.output_text == "Whole words"
    gem, br = upstream.requests
    assert gem.path.endswith(":streamGenerateContent") and gem.query == "alt=sse"
    assert gem.body["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    assert br.body["messages"] == [{"role": "user", "content": [{"text": "Say something else"}]}]


PNG = "data:image/png;base64,iVBORw0K"


def test_openai_image_to_gemini_inline_data(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream)) as gw:
        oai(gw).chat.completions.create(
            model="gemini-2.5-flash",
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {
                            "type": "image_url",
                            "image_url": {"url": "data:image/png;base64,iVBORw0K"},
                        },
                        {"type": "image_url", "image_url": {"url": "https://x.test/cat.jpg"}},
                    ],
                }
            ],
        )
    (req,) = upstream.requests
    assert req.body["contents"][0]["parts"] == [
        {"text": "What is this?"},
        {"inlineData": {"mimeType": "image/png", "data": "iVBORw0K"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://x.test/cat.jpg"}},
    ]
