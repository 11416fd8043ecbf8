"""`POST /v1/embeddings` end to end: the official openai SDK drives a real gateway in front of
`plano mock-llm` (deterministic vectors from a hash of each input): single and batch inputs,
base64, aliases, Gemini translated, keys, retries, fallbacks, usage in metrics, cost and the
access log, and the 400s the request decoder gives."""

from __future__ import annotations

import io
import json
from typing import Any

import openai
import pytest
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from plano.mock.embeddings import mock_vector
from plano.observability import names as n
from plano.observability.access_log import AccessLog
from plano.observability.metrics import build_metrics
from plano.observability.otel_spans import OtelTracing
from plano.observability.telemetry import Telemetry
from plano.wire.openai_embeddings import MAX_INPUTS
from tests.conftest import GatewayFactory
from tests.integration.keys_support import ADMIN_TOKEN, create_key
from tests.integration.test_cost import Spans

pytestmark = pytest.mark.integration

PRICE = 0.02  # USD per million input tokens of text-embedding-3-small, set in the config


def config(upstream: Any, extra: str = "", keys: bool = False) -> str:
    access = f"access:\n  keys: {{enabled: true, store: memory, admin_token: {ADMIN_TOKEN}}}"
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 20s}}
model_providers:
  - model: openai/gpt-4o
    access_key: k
    base_url: {upstream.base_url}
    default: true
  - model: openai/text-embedding-3-small
    access_key: k
    base_url: {upstream.base_url}
    pricing: {{input_per_mtok: {PRICE}, output_per_mtok: 0}}
  - model: gemini/text-embedding-004
    access_key: g
    base_url: {upstream.base_url}
  - model: anthropic/claude-sonnet-4
    access_key: a
    base_url: {upstream.base_url}
  - model: openai/backup-embedder
    access_key: k
    base_url: {upstream.base_url}
  - model: mistral/*
    access_key: m
    base_url: {upstream.base_url}
  - model: amazon_bedrock/amazon.titan-embed-text-v2:0
    access_key: bedrock-api-key
    base_url: {upstream.base_url}
  - model: amazon_bedrock/cohere.embed-english-v3
    base_url: {upstream.base_url}
  - model: amazon_bedrock/anthropic.claude-3-7-sonnet-20250219-v1:0
    access_key: bedrock-api-key
    base_url: {upstream.base_url}
{extra}
model_aliases:
  embedder: {{target: openai/text-embedding-3-small}}
{access if keys else ""}
"""


def client(gw: Any, key: str = "c") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url()}/v1", api_key=key, max_retries=0, timeout=30)


def test_single_batch_base64_and_alias(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream)) as gw, client(gw) as c:
        one = c.embeddings.create(model="text-embedding-3-small", input="hello world")
        assert len(one.data) == 1
        assert one.data[0].embedding == pytest.approx(mock_vector("hello world"))
        assert one.usage.prompt_tokens == 2

        texts = ["a b c", "second", "third one"]
        batch = c.embeddings.create(model="embedder", input=texts, dimensions=5)
        assert [d.index for d in batch.data] == [0, 1, 2]
        for d, t in zip(batch.data, texts, strict=True):
            assert d.embedding == pytest.approx(mock_vector(t, 5))
        assert batch.usage.prompt_tokens == 6

        # The SDK asks for base64 by default and decodes it; ask explicitly for it here too.
        b64 = c.embeddings.create(
            model="openai/text-embedding-3-small", input=["x y"], encoding_format="base64"
        )
        raw = b64.data[0].embedding
        if isinstance(raw, str):  # the SDK leaves an explicitly requested base64 string as is
            from plano.wire.openai_embeddings import decode_base64_vector

            raw = decode_base64_vector(raw)
        assert raw == pytest.approx(mock_vector("x y"))

        tokens = c.embeddings.create(model="text-embedding-3-small", input=[[1, 2, 3], [4]])
        assert len(tokens.data) == 2 and tokens.usage.prompt_tokens == 4

        wild = c.embeddings.with_raw_response.create(model="mistral/mistral-embed", input="w")
        assert wild.headers["x-plano-model"] == "mistral/mistral-embed"
        sent = upstream.requests
        assert sent[-1].body["model"] == "mistral-embed"
        assert sent[-1].headers["authorization"] == "Bearer m"
        assert [r.path for r in sent] == ["/v1/embeddings"] * 5
        assert sent[1].body["model"] == "text-embedding-3-small"  # the alias resolved
        assert sent[1].body["dimensions"] == 5
        assert sent[0].headers["authorization"] == "Bearer k"


def test_gemini_is_translated(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream)) as gw, client(gw) as c:
        res = c.embeddings.create(
            model="gemini/text-embedding-004", input=["one", "two words"], dimensions=4
        )
        assert [d.embedding for d in res.data] == [
            pytest.approx(mock_vector("one", 4)),
            pytest.approx(mock_vector("two words", 4)),
        ]
        assert res.usage.prompt_tokens == 1 + 3  # the gateway's estimate: 4 chars a token
        (sent,) = upstream.requests
        assert sent.path == "/v1beta/models/text-embedding-004:batchEmbedContents"
        assert sent.headers["x-goog-api-key"] == "g"
        assert sent.body["requests"][1] == {
            "model": "models/text-embedding-004",
            "content": {"parts": [{"text": "two words"}]},
            "outputDimensionality": 4,
        }
        with pytest.raises(openai.BadRequestError) as e:
            c.embeddings.create(model="gemini/text-embedding-004", input=[[1, 2]])
        assert "token ids" in e.value.message
        upstream.script({"status": 429, "message": "quota"})
        with pytest.raises(openai.RateLimitError) as r:
            c.embeddings.create(model="gemini/text-embedding-004", input="x")
        assert r.value.body["message"] == "quota"  # type: ignore[index]


def test_bedrock_titan_and_cohere_are_translated(
    upstream: Any, gateway: GatewayFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret-test-key")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_BEARER_TOKEN_BEDROCK", raising=False)
    titan = "amazon_bedrock/amazon.titan-embed-text-v2:0"
    with gateway(config(upstream)) as gw, client(gw) as c:
        res = c.embeddings.create(model=titan, input="one two three", dimensions=6)
        assert res.data[0].embedding == pytest.approx(mock_vector("one two three", 6))
        assert res.usage.prompt_tokens == 3  # Titan's inputTextTokenCount
        res = c.embeddings.create(model="cohere.embed-english-v3", input=["a", "b c"])
        assert [d.embedding for d in res.data] == [
            pytest.approx(mock_vector("a")),
            pytest.approx(mock_vector("b c")),
        ]
        assert res.usage.prompt_tokens == 3  # Bedrock's input-token-count header
        first, second = upstream.requests
        assert first.path == "/model/amazon.titan-embed-text-v2%3A0/invoke"
        assert first.body == {"inputText": "one two three", "dimensions": 6}
        assert first.headers["authorization"] == "Bearer bedrock-api-key"
        assert second.body == {"texts": ["a", "b c"], "input_type": "search_document"}
        assert second.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDTEST/")
        with pytest.raises(openai.BadRequestError) as e:
            c.embeddings.create(model=titan, input=["x", "y"])
        assert "one input per request" in e.value.message
        with pytest.raises(openai.BadRequestError) as e:
            c.embeddings.create(model="anthropic.claude-3-7-sonnet-20250219-v1:0", input="x")
        assert "(provider amazon_bedrock) has no embeddings API" in e.value.message
        upstream.script({"status": 400, "message": "Malformed input request"})
        with pytest.raises(openai.BadRequestError) as e:
            c.embeddings.create(model=titan, input="x")
        assert e.value.body["message"] == "Malformed input request"  # type: ignore[index]
        assert len(upstream.requests) == 3


def test_bad_requests_get_openai_400s(upstream: Any, gateway: GatewayFactory) -> None:
    with gateway(config(upstream)) as gw, client(gw) as c:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"model": "text-embedding-3-small"}, "input"),
            ({"model": "text-embedding-3-small", "input": []}, "input"),
            ({"model": "text-embedding-3-small", "input": ["a", 3]}, "input"),
            ({"model": "text-embedding-3-small", "input": {"a": 1}}, "input"),
            ({"model": "text-embedding-3-small", "input": ["x"] * (MAX_INPUTS + 1)}, "input"),
            ({"input": "x"}, "model"),
            ({"model": "text-embedding-3-small", "input": "x", "dimensions": 0}, "dimensions"),
            ({"model": "text-embedding-3-small", "input": "x", "encoding_format": "int8"}, ""),
            ({"model": "anthropic/claude-sonnet-4", "input": "x"}, "model"),
        ]
        for body, param in cases:
            with pytest.raises(openai.BadRequestError) as e:
                c.post("/embeddings", body=body, cast_to=object)
            err = e.value.body
            assert isinstance(err, dict), body
            assert err["type"] == "invalid_request_error"
            assert err["param"] == (param or "encoding_format"), (body, err)
        with pytest.raises(openai.BadRequestError) as e:
            c.embeddings.create(model="text-embedding-3-small", input=["x"] * (MAX_INPUTS + 1))
        assert f"at most {MAX_INPUTS}" in e.value.message
        with pytest.raises(openai.BadRequestError) as e:
            c.embeddings.create(model="claude-sonnet-4", input="x")
        assert "model 'claude-sonnet-4' (provider anthropic) has no embeddings API" in (
            e.value.message
        )
        assert upstream.requests == []


def test_a_key_may_not_embed_with_a_model_it_may_not_use(
    upstream: Any, gateway: GatewayFactory
) -> None:
    with gateway(config(upstream, keys=True)) as gw:
        _, key = create_key(gw.admin_url, models=["openai/text-embedding-3-small"])
        with client(gw, key) as c:
            assert c.embeddings.create(model="embedder", input="ok").data
            with pytest.raises(openai.PermissionDeniedError):
                c.embeddings.create(model="gemini/text-embedding-004", input="no")
        with client(gw, "not-a-key") as bad, pytest.raises(openai.AuthenticationError):
            bad.embeddings.create(model="embedder", input="no")
        (sent,) = upstream.requests
        assert sent.headers["authorization"] == "Bearer k"  # never the gateway key


def test_retry_then_success_and_fallback(upstream: Any, gateway: GatewayFactory) -> None:
    extra = """    retry_policy: {num_retries: 2, base_interval: 1ms, max_interval: 2ms}
    fallbacks: [openai/backup-embedder]"""
    text = config(upstream).replace(
        "    pricing: {input_per_mtok: 0.02, output_per_mtok: 0}",
        "    pricing: {input_per_mtok: 0.02, output_per_mtok: 0}\n" + extra,
    )
    assert extra in text
    with gateway(text) as gw, client(gw) as c:
        upstream.script({"status": 503, "times": 1})
        res = c.embeddings.create(model="text-embedding-3-small", input="again")
        assert res.data[0].embedding == pytest.approx(mock_vector("again"))
        assert len(upstream.requests) == 2
        upstream.clear()
        upstream.script({"model": "text-embedding-3-small", "status": 500, "times": 0})
        raw = c.embeddings.with_raw_response.create(model="text-embedding-3-small", input="fb")
        assert raw.headers["x-plano-model"] == "openai/backup-embedder"
        assert raw.parse().data[0].embedding == pytest.approx(mock_vector("fb"))
        assert [r.body["model"] for r in upstream.requests][-1] == "backup-embedder"


def test_usage_reaches_metrics_cost_and_the_access_log(
    upstream: Any, gateway: GatewayFactory
) -> None:
    metrics, log, spans = build_metrics(), io.StringIO(), Spans()
    telemetry = Telemetry(
        metrics=metrics, tracing=OtelTracing(spans), records=[AccessLog("json", log)]
    )
    with gateway(config(upstream), telemetry=telemetry) as gw, client(gw) as c:
        upstream.script({"usage": {"prompt_tokens": 1000, "completion_tokens": 0}})
        c.embeddings.create(model="text-embedding-3-small", input=["p", "q"])
    (span,) = [s for s in spans.decoded() if n.ATTR_LLM_MODEL in s["attributes"]]
    assert span["name"] == "POST /v1/embeddings text-embedding-3-small"
    assert span["attributes"][n.ATTR_USAGE_PROMPT] == 1000
    assert span["attributes"][n.ATTR_USAGE_TOTAL_COST] == pytest.approx(1000 * PRICE / 1e6)
    (line,) = [json.loads(x) for x in log.getvalue().splitlines()]
    assert line["path"] == "/v1/embeddings"
    assert line["model"] == "openai/text-embedding-3-small"
    assert line["prompt_tokens"] == 1000
    assert line["cost_usd"] == pytest.approx(1000 * PRICE / 1e6)
    samples = [
        s
        for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for s in f.samples
    ]
    http = [s for s in samples if s.name == n.METRIC_HTTP_REQUESTS]
    assert any(s.labels[n.LABEL_HANDLER] == "embeddings" and s.value == 1 for s in http)
    tokens = {
        s.labels[n.LABEL_KIND]: s.value
        for s in samples
        if s.name == n.METRIC_TOKENS and s.labels[n.LABEL_MODEL] == "text-embedding-3-small"
    }
    assert tokens.get("prompt") == 1000
    assert not tokens.get("completion")
    cost = [s for s in samples if s.name == n.METRIC_COST]
    assert [s.value for s in cost] == pytest.approx([1000 * PRICE / 1e6])
