"""OpenAI embeddings to Gemini `batchEmbedContents` and back: one Gemini request per input, in
order, with the dimensions asked; the answer's vectors in the same order, as floats or base64
(little-endian float32), usage from Gemini's metadata or the gateway's estimate."""

from __future__ import annotations

import struct

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate.embeddings_gemini import estimate_tokens, from_gemini, to_gemini
from plano.wire.openai_embeddings import decode_base64_vector, parse

F32 = st.floats(width=32, allow_nan=False, allow_infinity=False)


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(
    texts=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=6),
    dims=st.none() | st.integers(1, 3072),
    fmt=st.sampled_from(["float", "base64"]),
    data=st.data(),
)
def test_round_trip(texts: list[str], dims: int | None, fmt: str, data: st.DataObject) -> None:
    doc = {"model": "gemini/text-embedding-004", "input": texts, "encoding_format": fmt}
    if dims is not None:
        doc["dimensions"] = dims
    req = parse(doc)
    sent = orjson.loads(to_gemini(req, "text-embedding-004"))["requests"]
    assert [r["content"]["parts"][0]["text"] for r in sent] == texts
    assert all(r["model"] == "models/text-embedding-004" for r in sent)
    assert all(r.get("outputDimensionality") == dims for r in sent)

    vectors = [data.draw(st.lists(F32, min_size=1, max_size=8)) for _ in texts]
    meta = data.draw(st.none() | st.integers(0, 10_000))
    answer: dict[str, object] = {"embeddings": [{"values": v} for v in vectors]}
    if meta is not None:
        answer["usageMetadata"] = {"promptTokenCount": meta}
    body, tokens = from_gemini(orjson.dumps(answer), req, "text-embedding-004")
    out = orjson.loads(body)
    assert tokens == (meta if meta is not None else estimate_tokens(tuple(texts)))
    assert out["usage"] == {"prompt_tokens": tokens, "total_tokens": tokens}
    assert out["model"] == "text-embedding-004" and out["object"] == "list"
    assert [d["index"] for d in out["data"]] == list(range(len(texts)))
    for d, want in zip(out["data"], vectors, strict=True):
        got = d["embedding"]
        if fmt == "base64":
            got = decode_base64_vector(got)
            assert got == [struct.unpack("<f", struct.pack("<f", v))[0] for v in want]
        else:
            assert got == want


def test_token_inputs_are_refused() -> None:
    req = parse({"model": "gemini/e", "input": [[1, 2]]})
    with pytest.raises(BadRequest, match="token ids"):
        to_gemini(req, "e")


@pytest.mark.parametrize(
    "answer",
    [b"not json", b"{}", b'{"embeddings": [{"values": [1.0]}]}', b'{"embeddings": [{}, {}]}'],
)
def test_an_answer_of_the_wrong_shape_is_a_502(answer: bytes) -> None:
    req = parse({"model": "gemini/e", "input": ["a", "b"]})
    with pytest.raises(UpstreamProtocolError):
        from_gemini(answer, req, "e")
