"""OpenAI embeddings to Bedrock InvokeModel (Titan, Cohere) and back."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate.embeddings_bedrock import COHERE, TITAN, family, from_bedrock, to_bedrock
from plano.translate.embeddings_gemini import estimate_tokens
from plano.wire.openai_embeddings import parse

F32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
COHERE_ID = "cohere.embed-multilingual-v3"
TITAN_ID = "amazon.titan-embed-text-v2:0"


def test_families() -> None:
    assert family(TITAN_ID) == TITAN == family("amazon.titan-embed-g1-text-02")
    assert family(COHERE_ID) == COHERE == family("us.cohere.embed-v4:0")
    assert family("anthropic.claude-3-7-sonnet") is None


@settings(max_examples=200, derandomize=True, deadline=None, database=None)
@given(
    texts=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=6),
    dims=st.none() | st.integers(1, 1536),
    header=st.none() | st.integers(0, 10_000),
    shape=st.sampled_from(["list", "by_type"]),
    data=st.data(),
)
def test_cohere_round_trip(
    texts: list[str], dims: int | None, header: int | None, shape: str, data: st.DataObject
) -> None:
    doc: dict[str, object] = {"model": COHERE_ID, "input": texts}
    if dims is not None:
        doc["dimensions"] = dims
    req = parse(doc)
    sent = orjson.loads(to_bedrock(req, COHERE_ID))
    assert sent["texts"] == texts and sent["input_type"] == "search_document"
    assert sent.get("output_dimension") == dims
    vectors = [data.draw(st.lists(F32, min_size=1, max_size=6)) for _ in texts]
    answer = {"embeddings": vectors if shape == "list" else {"float": vectors}}
    body, tokens = from_bedrock(orjson.dumps(answer), req, COHERE_ID, header)
    out = orjson.loads(body)
    assert [d["embedding"] for d in out["data"]] == vectors
    assert tokens == (header if header is not None else estimate_tokens(tuple(texts)))
    assert out["usage"]["prompt_tokens"] == tokens


def test_titan_one_input_and_its_token_count() -> None:
    req = parse({"model": TITAN_ID, "input": "hello", "dimensions": 256})
    assert orjson.loads(to_bedrock(req, TITAN_ID)) == {"inputText": "hello", "dimensions": 256}
    answer = orjson.dumps({"embedding": [0.25, -0.5], "inputTextTokenCount": 2})
    body, tokens = from_bedrock(answer, req, TITAN_ID, None)
    assert tokens == 2 and orjson.loads(body)["data"][0]["embedding"] == [0.25, -0.5]
    assert from_bedrock(answer, req, TITAN_ID, 7)[1] == 7  # the header wins
    with pytest.raises(BadRequest, match="one input per request"):
        to_bedrock(parse({"model": TITAN_ID, "input": ["a", "b"]}), TITAN_ID)
    with pytest.raises(BadRequest, match="token ids"):
        to_bedrock(parse({"model": TITAN_ID, "input": [1, 2]}), TITAN_ID)


@pytest.mark.parametrize(
    ("model", "answer"),
    [
        (TITAN_ID, b"[]"),
        (TITAN_ID, b'{"embedding": "x"}'),
        (COHERE_ID, b'{"embeddings": [[1.0]]}'),
        (COHERE_ID, b"nope"),
    ],
)
def test_an_answer_of_the_wrong_shape_is_a_502(model: str, answer: bytes) -> None:
    inputs = "a" if model == TITAN_ID else ["a", "b"]
    with pytest.raises(UpstreamProtocolError):
        from_bedrock(answer, parse({"model": model, "input": inputs}), model, None)
