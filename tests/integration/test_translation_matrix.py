"""Every client API against every upstream API the hub speaks, on the fake upstream's real wire.

The provider catalogue never routes some pairs (an OpenAI chat client to an Anthropic Messages
upstream, for one), so this drives the codecs directly: the client's request is decoded, rebuilt
for the upstream API and sent to `plano mock-llm`, whose answer (whole, or streamed and fed back in
small pieces) is translated back and checked with the client SDK's own response models.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import anthropic.types
import openai.types.chat
import openai.types.responses
import orjson
import pytest
from pydantic import TypeAdapter

from plano.codec.sse import SseDecoder
from plano.translate import client_codec, upstream_codec
from plano.wire.api import Api

pytestmark = pytest.mark.integration

PATHS = {
    Api.OPENAI_CHAT: "/v1/chat/completions",
    Api.ANTHROPIC_MESSAGES: "/v1/messages",
    Api.OPENAI_RESPONSES: "/v1/responses",
}
TOOL = {"type": "object", "properties": {"city": {"type": "string"}}}
REQUESTS: dict[Api, dict[str, Any]] = {
    Api.OPENAI_CHAT: {
        "model": "m",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": TOOL}}],
        "stream_options": {"include_usage": True},
    },
    Api.ANTHROPIC_MESSAGES: {
        "model": "m",
        "max_tokens": 300,
        "system": "Be brief.",
        "messages": [{"role": "user", "content": "Weather?"}],
        "tools": [{"name": "get_weather", "input_schema": TOOL}],
    },
    Api.OPENAI_RESPONSES: {
        "model": "m",
        "instructions": "Be brief.",
        "input": "Weather?",
        "tools": [{"type": "function", "name": "get_weather", "parameters": TOOL}],
    },
}
SCRIPT = {
    "text": "Let me look — één moment.",
    "thinking": "The user wants weather.",
    "tool_calls": [{"name": "get_weather", "arguments": {"city": "Zürich"}}],
}
PAIRS = [(c, u) for c in PATHS for u in PATHS]


def call(upstream: Any, api: Api, body: dict[str, Any]) -> bytes:
    req = urllib.request.Request(
        upstream.base_url + PATHS[api],
        data=orjson.dumps(body),
        method="POST",
        headers={"content-type": "application/json", "x-api-key": "k", "authorization": "Bearer k"},
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        data: bytes = resp.read()
        return data


def check_whole(client: Api, body: bytes) -> None:
    doc = json.loads(body)
    if client is Api.OPENAI_CHAT:
        msg = openai.types.chat.ChatCompletion.model_validate(doc).choices[0]
        assert msg.finish_reason == "tool_calls" and msg.message.content == SCRIPT["text"]
        assert msg.message.tool_calls and json.loads(
            msg.message.tool_calls[0].function.arguments
        ) == {"city": "Zürich"}  # type: ignore[union-attr]
    elif client is Api.ANTHROPIC_MESSAGES:
        m = anthropic.types.Message.model_validate(doc)
        assert m.stop_reason == "tool_use"
        uses = [b for b in m.content if b.type == "tool_use"]
        assert [(u.name, u.input) for u in uses] == [("get_weather", {"city": "Zürich"})]
    else:
        r = openai.types.responses.Response.model_validate(doc)
        assert r.output_text == SCRIPT["text"]
        call_item = next(o for o in r.output if o.type == "function_call")
        assert json.loads(call_item.arguments) == {"city": "Zürich"}


def check_stream(client: Api, data: bytes) -> None:
    dec = SseDecoder()
    events = [(e.event, e.data) for e in dec.feed(data) + dec.close()]
    if client is Api.OPENAI_CHAT:
        assert events[-1][1] == "[DONE]"
        chunks = [
            openai.types.chat.ChatCompletionChunk.model_validate(json.loads(d))
            for _, d in events[:-1]
        ]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == SCRIPT["text"] and chunks[-1].usage is not None
    elif client is Api.ANTHROPIC_MESSAGES:
        adapter: TypeAdapter[Any] = TypeAdapter(anthropic.types.RawMessageStreamEvent)
        parsed = [adapter.validate_python(json.loads(d)) for _, d in events]
        assert parsed[0].type == "message_start" and parsed[-1].type == "message_stop"
        assert parsed[-2].delta.stop_reason == "tool_use"
    else:
        adapter = TypeAdapter(openai.types.responses.ResponseStreamEvent)
        parsed = [adapter.validate_python(json.loads(d)) for _, d in events]
        assert parsed[-1].type == "response.completed"
        assert [p.sequence_number for p in parsed] == list(range(len(parsed)))


@pytest.mark.parametrize(("client", "up"), PAIRS, ids=[f"{c}<-{u}" for c, u in PAIRS])
def test_whole_and_streamed_answers(upstream: Any, client: Api, up: Api) -> None:
    cc, uc = client_codec(client), upstream_codec(up)
    assert cc is not None and uc is not None
    upstream.script(SCRIPT, SCRIPT)
    request = cc.parse_request(REQUESTS[client])
    check_whole(
        client,
        cc.encode_response(
            uc.parse_response(json.loads(call(upstream, up, uc.build_request(request, "m"))))
        ),
    )
    request.stream = True
    raw = call(upstream, up, uc.build_request(request, "m"))
    decoder, encoder = uc.stream_decoder(), cc.stream_encoder(request)
    out = b"".join(encoder.encode(decoder.feed(raw[i : i + 7])) for i in range(0, len(raw), 7))
    check_stream(client, out + encoder.encode(decoder.close()))
    assert [r.path for r in upstream.requests] == [PATHS[up]] * 2
