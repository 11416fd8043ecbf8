"""OTel GenAI attributes: operation and provider names, request parameters, response metadata of
every dialect (whole and streamed), the GenAI span names, and nothing for unsampled spans."""

from __future__ import annotations

from typing import Any

import pytest

from plano.observability import genai
from plano.observability import names as n
from plano.observability.otel_spans import OtelTracing
from plano.observability.record import RequestRecord
from tests.unit.observability.test_tracing import (
    CLIENT_TP,
    Captured,
    only,
    record,
    run,
)


@pytest.fixture
def exporter() -> Captured:
    return Captured()


@pytest.mark.parametrize(
    ("path", "api", "op"),
    [
        ("/v1/chat/completions", "openai_chat", "chat"),
        ("/v1/messages", "anthropic_messages", "chat"),
        ("/v1/responses", "openai_responses", "chat"),
        ("/v1beta/models/gemini-2.0-flash:generateContent", "gemini", "generate_content"),
        ("/v1/embeddings", "openai_chat", "embeddings"),
        ("/v1/completions", "openai_chat", "text_completion"),
    ],
)
def test_operation_names(path: str, api: str, op: str) -> None:
    assert genai.operation_name(path, api) == op


def test_provider_names_use_the_well_known_values() -> None:
    assert genai.provider_name("gemini") == "gcp.gemini"
    assert genai.provider_name("amazon_bedrock") == "aws.bedrock"
    assert genai.provider_name("azure_openai") == "azure.ai.openai"
    assert genai.provider_name("xai") == "x_ai"
    assert genai.provider_name("mistral") == "mistral_ai"
    assert genai.provider_name("my_vllm") == "my_vllm"  # no well-known value: ours


def test_request_parameters_and_conversation() -> None:
    r = RequestRecord("llm", "model", "POST", "/v1/responses")
    genai.note_request(
        r,
        {"max_output_tokens": 64, "temperature": 1, "top_p": 0.5, "previous_response_id": "r_1"},
    )
    assert r.gen_ai == {
        n.ATTR_GEN_AI_MAX_TOKENS: 64,
        n.ATTR_GEN_AI_TEMPERATURE: 1.0,
        n.ATTR_GEN_AI_TOP_P: 0.5,
        n.ATTR_GEN_AI_CONVERSATION_ID: "r_1",
    }
    g = RequestRecord("llm", "model", "POST", "/v1beta/models/x:generateContent")
    genai.note_request(g, {"generationConfig": {"maxOutputTokens": 9, "topP": 0.1}})
    assert g.gen_ai == {n.ATTR_GEN_AI_MAX_TOKENS: 9, n.ATTR_GEN_AI_TOP_P: 0.1}
    bad = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    genai.note_request(bad, {"max_tokens": "many", "temperature": True, "conversation": 3})
    assert bad.gen_ai == {}


@pytest.mark.parametrize(
    ("doc", "want"),
    [
        (
            {"id": "c1", "model": "gpt-4o-2024", "choices": [{"finish_reason": "stop"}]},
            ("c1", "gpt-4o-2024", ["stop"]),
        ),
        (
            {"id": "m1", "model": "claude", "stop_reason": "end_turn"},
            ("m1", "claude", ["end_turn"]),
        ),
        (
            {"responseId": "g1", "modelVersion": "g-2", "candidates": [{"finishReason": "STOP"}]},
            ("g1", "g-2", ["STOP"]),
        ),
        (
            {
                "id": "resp_1",
                "object": "response",
                "model": "gpt-5",
                "status": "incomplete",
                "incomplete_details": {"reason": "max_output_tokens"},
            },
            ("resp_1", "gpt-5", ["max_output_tokens"]),
        ),
        ([1, 2], (None, None, [])),
    ],
)
def test_response_meta_of_each_dialect(doc: Any, want: tuple[Any, ...]) -> None:
    assert genai.response_meta(doc) == want


def test_stream_meta_reads_first_event_and_finish_reasons() -> None:
    r = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    meta = genai.StreamMeta()
    meta.feed(b'data: {"id":"c9","model":"gpt-4o-x","choices":[{"finish_reason":null}]}\n\n')
    meta.feed(b'data: {"id":"c9","choices":[{"delta":{},"finish_reason":"length"}]}\n\n')
    meta.feed(b"data: [DONE]\n\n")
    meta.note(r)
    assert r.gen_ai == {
        n.ATTR_GEN_AI_RESPONSE_ID: "c9",
        n.ATTR_GEN_AI_RESPONSE_MODEL: "gpt-4o-x",
        n.ATTR_GEN_AI_FINISH_REASONS: ("length",),
    }
    anthropic = genai.StreamMeta()
    anthropic.feed(
        b'event: message_start\ndata: {"type":"message_start","message":'
        b'{"id":"msg_1","model":"claude-x","stop_reason":null}}\n\n'
    )
    anthropic.feed(
        b'event: message_delta\ndata: {"type":"message_delta","delta":{"stop_reason":"tool_use"}}'
        b"\n\n"
    )
    a = RequestRecord("llm", "model", "POST", "/v1/messages")
    anthropic.note(a)
    assert a.gen_ai is not None
    assert a.gen_ai[n.ATTR_GEN_AI_RESPONSE_ID] == "msg_1"
    assert a.gen_ai[n.ATTR_GEN_AI_FINISH_REASONS] == ("tool_use",)
    responses = genai.StreamMeta()
    responses.feed(b'data: {"type":"response.created","response":{"id":"resp_2","model":"m"}}\n\n')
    responses.feed(
        b'data: {"type":"response.completed","response":{"id":"resp_2","object":"response",'
        b'"model":"m","status":"completed"}}\n\n'
    )
    rr = RequestRecord("llm", "model", "POST", "/v1/responses")
    responses.note(rr)
    assert rr.gen_ai is not None
    assert rr.gen_ai[n.ATTR_GEN_AI_FINISH_REASONS] == ("completed",)


def test_per_request_attributes_reach_the_span(exporter: Captured) -> None:
    tracing = OtelTracing(exporter)
    r = record(cache_write_tokens=3)
    tracing.begin(r, CLIENT_TP, None)
    assert genai.sampled(r)
    genai.note_request(r, {"max_tokens": 50, "temperature": 0.2})
    genai.note_response(r, "chatcmpl-1", "gpt-4o-2024-08-06", ["stop"])
    tracing.finish(r)
    a = only(exporter)["attributes"]
    assert a[n.ATTR_GEN_AI_RESPONSE_ID] == "chatcmpl-1"
    assert a[n.ATTR_GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"
    assert a[n.ATTR_GEN_AI_FINISH_REASONS] == ["stop"]
    assert a[n.ATTR_GEN_AI_MAX_TOKENS] == 50
    assert a[n.ATTR_GEN_AI_TEMPERATURE] == 0.2
    assert a[n.ATTR_GEN_AI_CACHE_CREATION] == 3
    assert a[n.ATTR_USAGE_CACHE_CREATION] == 3


def test_unsampled_requests_are_not_sampled(exporter: Captured) -> None:
    tracing = OtelTracing(exporter)
    r = record()
    tracing.begin(r, CLIENT_TP[:-2] + "00", None)
    assert not genai.sampled(r)


def test_genai_span_names_are_an_option(exporter: Captured) -> None:
    run(OtelTracing(exporter, genai_names=True), record(requested_model="fast"))
    assert only(exporter)["name"] == "chat gpt-4o"
    exporter.items.clear()
    other = RequestRecord("llm", "model", "GET", "/v1/models")
    other.status = 200
    run(OtelTracing(exporter, genai_names=True), other)
    assert only(exporter)["name"] == "GET /v1/models"  # not an LLM call: the gateway's name
    exporter.items.clear()
    run(OtelTracing(exporter), record(requested_model="fast"))
    assert only(exporter)["name"] == "POST /v1/chat/completions fast -> openai/gpt-4o"
