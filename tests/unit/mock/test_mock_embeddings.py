"""The mock's embeddings: OpenAI and Gemini shapes, deterministic unit vectors, usage, auth."""

from __future__ import annotations

import math
from typing import Any

import orjson

from plano.mock.app import MockApp, MockOptions
from plano.mock.embeddings import (
    DEFAULT_DIMS,
    BedrockEmbeddings,
    GeminiEmbeddings,
    OpenAIEmbeddings,
    mock_vector,
)
from plano.mock.request import MockRequest
from plano.mock.script import ReplySpec
from plano.wire.openai_embeddings import decode_base64_vector


def req(path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> MockRequest:
    return MockRequest.parse("POST", path.encode(), headers or {}, orjson.dumps(body), 1)


def test_vectors_are_deterministic_unit_vectors() -> None:
    v = mock_vector("hello")
    assert v == mock_vector("hello") != mock_vector("hello!")
    assert len(v) == DEFAULT_DIMS and len(mock_vector("x", 100)) == 100
    assert math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-5)


def test_openai_shape_usage_and_base64() -> None:
    d = OpenAIEmbeddings()
    assert d.matches("/v1/embeddings") and not d.matches("/v1/chat/completions")
    body = {"model": "e", "input": ["a b", "c"], "dimensions": 3, "encoding_format": "base64"}
    doc = orjson.loads(d.reply(req("/v1/embeddings", body), ReplySpec()).body)
    assert doc["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert doc["model"] == "e"
    assert decode_base64_vector(doc["data"][1]["embedding"]) == mock_vector("c", 3)
    scripted = d.reply(req("/v1/embeddings", {"input": [1, 2]}), ReplySpec(usage=(9, 0)))
    assert orjson.loads(scripted.body)["usage"]["prompt_tokens"] == 9
    assert d.reply(req("/v1/embeddings", {"input": 5}), ReplySpec()).status == 400


def test_gemini_batch_and_single_and_the_key() -> None:
    g = GeminiEmbeddings()
    path = "/v1beta/models/text-embedding-004:batchEmbedContents"
    assert g.matches(path) and not g.matches("/v1beta/models/m:generateContent")
    one = {"content": {"parts": [{"text": "hi"}]}, "outputDimensionality": 4}
    key = {"x-goog-api-key": "k"}
    doc = orjson.loads(g.reply(req(path, {"requests": [one, one]}, key), ReplySpec()).body)
    assert doc == {"embeddings": [{"values": mock_vector("hi", 4)}] * 2}
    single = req("/v1beta/models/m:embedContent", one, key)
    assert orjson.loads(g.reply(single, ReplySpec()).body)["embedding"]["values"]
    assert g.reply(req(path, {"requests": [one]}), ReplySpec()).status == 403
    assert g.reply(req(path, {"requests": []}, key), ReplySpec()).status == 400


def test_the_app_routes_embeddings_and_scripts_them() -> None:
    app = MockApp(MockOptions())
    app.script([{"status": 503}])
    reply, _ = app.handle(req("/v1/embeddings", {"model": "e", "input": "x"}))
    assert reply.status == 503
    reply, _ = app.handle(req("/v1/embeddings", {"model": "e", "input": "x"}))
    assert orjson.loads(reply.body)["data"][0]["embedding"] == mock_vector("x")


def test_bedrock_titan_and_cohere() -> None:
    b = BedrockEmbeddings()
    bearer = {"authorization": "Bearer k"}
    titan = "/model/amazon.titan-embed-text-v2%3A0/invoke"
    assert b.matches(titan) and not b.matches("/model/x/converse")
    r = b.reply(req(titan, {"inputText": "a b", "dimensions": 3}, bearer), ReplySpec())
    assert orjson.loads(r.body) == {"embedding": mock_vector("a b", 3), "inputTextTokenCount": 2}
    cohere = "/model/cohere.embed-english-v3/invoke"
    r = b.reply(req(cohere, {"texts": ["x", "y z"]}, bearer), ReplySpec())
    assert orjson.loads(r.body)["embeddings"] == [mock_vector("x"), mock_vector("y z")]
    assert ("x-amzn-bedrock-input-token-count", "3") in r.headers
    assert b.reply(req(cohere, {"texts": ["x"]}), ReplySpec()).status == 403
    assert b.reply(req(titan, {}, bearer), ReplySpec()).status == 400
