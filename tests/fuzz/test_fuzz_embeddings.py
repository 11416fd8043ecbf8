"""Fuzzing `/v1/embeddings`: the request decoder on its own (every malformed body is a
BadRequest naming the parameter, every valid one is read back as sent), the decoders of Gemini's
and Bedrock's answers (anything else than their shape is a 502), then mutated bodies
through a real gateway to every upstream dialect's provider (never a 5xx: the mock is not
scripted to fail, so a 5xx would be the gateway's own)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plano.errors import BadRequest, UpstreamProtocolError
from plano.runtime.serve import ThreadedGateway
from plano.translate.embeddings_bedrock import from_bedrock
from plano.translate.embeddings_gemini import from_gemini
from plano.wire.openai_embeddings import MAX_INPUTS, PATH, parse
from tests.fuzz.bodies import WRONG_VALUES
from tests.fuzz.harness import PAIRS, Client, fuzz_gateway

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 70000)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
VALUES = st.sampled_from(WRONG_VALUES) | _JSON
TEXTS = st.text(min_size=1, max_size=8)
TOKENS = st.lists(st.integers(0, 100_000), min_size=1, max_size=5)
GOOD_INPUT = (
    TEXTS
    | st.lists(TEXTS, min_size=1, max_size=5)
    | TOKENS
    | st.lists(TOKENS, min_size=1, max_size=4)
)
FIELDS = ("model", "input", "encoding_format", "dimensions", "user")
PARAMS = {"model", "input", "encoding_format", "dimensions", "user"}


def good_body() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"model": st.text(min_size=1, max_size=10), "input": GOOD_INPUT},
        optional={
            "encoding_format": st.sampled_from(["float", "base64"]),
            "dimensions": st.integers(1, 4096),
            "user": st.text(max_size=5),
        },
    )


@settings(max_examples=500, derandomize=True, deadline=None, database=None)
@given(good_body())
def test_valid_requests_are_read_as_sent(doc: dict[str, Any]) -> None:
    req = parse(doc)
    value = doc["input"]
    assert req.model == doc["model"]
    assert req.encoding_format == doc.get("encoding_format", "float")
    assert req.dimensions == doc.get("dimensions")
    if isinstance(value, str):
        assert req.texts == (value,)
    elif isinstance(value[0], str):
        assert req.texts == tuple(value)
    elif isinstance(value[0], int):
        assert req.tokens == (tuple(value),)
    else:
        assert req.tokens == tuple(tuple(t) for t in value)
    assert 1 <= req.count <= MAX_INPUTS


@settings(
    max_examples=1500,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(good_body(), st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), min_size=1, max_size=2))
def test_malformed_requests_are_a_400_naming_the_parameter(
    doc: dict[str, Any], changes: list[tuple[str, Any]]
) -> None:
    for field, value in changes:
        doc[field] = value
    try:
        req = parse(doc)
    except BadRequest as err:
        assert err.status == 400
        assert err.param in PARAMS
        return
    assert req.model == doc["model"] and req.count >= 1


def test_the_input_limit_is_named() -> None:
    with pytest.raises(BadRequest, match=f"at most {MAX_INPUTS}"):
        parse({"model": "m", "input": [[1]] * (MAX_INPUTS + 1)})
    assert parse({"model": "m", "input": ["x"] * MAX_INPUTS}).count == MAX_INPUTS


@pytest.fixture(scope="module")
def client() -> Iterator[tuple[Client, ThreadedGateway]]:
    with fuzz_gateway() as (_mock, gw):
        c = Client(gw.port())
        yield c, gw
        c.close()


MODELS = sorted({p.model for p in PAIRS})


@pytest.mark.parametrize("model", MODELS)
def test_mutated_bodies_through_the_gateway_never_get_a_5xx(
    model: str, client: tuple[Client, ThreadedGateway]
) -> None:
    conn = client[0]

    @settings(
        max_examples=60,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    @given(good_body(), st.lists(st.tuples(st.sampled_from(FIELDS), VALUES), max_size=2))
    def run(doc: dict[str, Any], changes: list[tuple[str, Any]]) -> None:
        doc["model"] = model
        for field, value in changes:
            doc[field] = value
        body = orjson.dumps(doc)
        status, answer = conn.post(PATH, body)
        assert status < 500, f"{status} for {body[:300]!r}: {answer[:300]!r}"
        if status == 200:
            assert orjson.loads(answer)["object"] == "list"

    run()


@settings(max_examples=600, derandomize=True, deadline=None, database=None)
@given(
    answer=_JSON
    | st.fixed_dictionaries({"embeddings": _JSON})
    | st.fixed_dictionaries({"embedding": st.lists(st.floats(allow_nan=False), max_size=3)})
    | st.binary(max_size=20),
    n=st.integers(1, 3),
    model=st.sampled_from(
        ["text-embedding-004", "amazon.titan-embed-text-v2:0", "cohere.embed-v4"]
    ),
    fmt=st.sampled_from(["float", "base64"]),
)
def test_upstream_answers_of_any_shape_are_a_502_at_worst(
    answer: Any, n: int, model: str, fmt: str
) -> None:
    """Gemini's and Bedrock's answers decoded: the OpenAI shape, or UpstreamProtocolError."""
    data = answer if isinstance(answer, bytes) else orjson.dumps(answer)
    titan = "titan" in model
    req = parse({"model": model, "input": ["t"] * (1 if titan else n), "encoding_format": fmt})
    try:
        if model.startswith("text-"):
            body, _ = from_gemini(data, req, model)
        else:
            body, _ = from_bedrock(data, req, model, None)
    except UpstreamProtocolError as err:
        assert err.status == 502
        return
    assert len(orjson.loads(body)["data"]) == req.count
