"""OpenAI `/v1/embeddings` to and from Gemini `models/{model}:batchEmbedContents`.

Every request goes as one batch (one input is a batch of one): `{"requests": [{"model":
"models/{id}", "content": {"parts": [{"text": ...}]}, "outputDimensionality": n}, ...]}`; the
answer is `{"embeddings": [{"values": [...]}, ...]}` in the order asked. Gemini takes text only
(token-id inputs are refused with a 400). Its answer may carry no usage; then the prompt tokens
are the gateway's estimate (4 characters a token), so cost and metrics still count something.
"""

from __future__ import annotations

import math
from typing import Any, Final

import orjson

from plano.errors import BadRequest, UpstreamProtocolError
from plano.wire.openai_embeddings import EmbeddingsRequest, response_body

ACTION: Final = ":batchEmbedContents"


def to_gemini(req: EmbeddingsRequest, model_id: str) -> bytes:
    """The batchEmbedContents body for a client's request."""
    if req.texts is None:
        raise BadRequest(
            f"model '{req.model}' (provider gemini) embeds text only; `input` holds token ids",
            param="input",
        )
    model = "models/" + model_id.removeprefix("models/")
    dims = req.dimensions
    requests: list[dict[str, Any]] = []
    for text in req.texts:
        one: dict[str, Any] = {"model": model, "content": {"parts": [{"text": text}]}}
        if dims is not None:
            one["outputDimensionality"] = dims
        requests.append(one)
    return orjson.dumps({"requests": requests})


def estimate_tokens(texts: tuple[str, ...]) -> int:
    return sum(max(1, math.ceil(len(t) / 4)) for t in texts)


def _vectors(doc: Any, expected: int) -> list[list[float]]:
    items = doc.get("embeddings") if type(doc) is dict else None
    if type(items) is not list or len(items) != expected:
        raise UpstreamProtocolError("Gemini answered without one embedding per input")
    out: list[list[float]] = []
    for item in items:
        values = item.get("values") if type(item) is dict else None
        if type(values) is not list or not all(type(v) in (float, int) for v in values):
            raise UpstreamProtocolError("Gemini answered an embedding without numeric values")
        out.append(values)
    return out


def _prompt_tokens(doc: dict[str, Any], texts: tuple[str, ...]) -> int:
    meta = doc.get("usageMetadata")
    if type(meta) is dict:
        n = meta.get("promptTokenCount")
        if type(n) is int and n >= 0:
            return n
    return estimate_tokens(texts)


def from_gemini(data: bytes, req: EmbeddingsRequest, model: str) -> tuple[bytes, int]:
    """The OpenAI answer for Gemini's, and its prompt tokens."""
    assert req.texts is not None
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Gemini answered with a body that is not JSON") from None
    vectors = _vectors(doc, len(req.texts))
    tokens = _prompt_tokens(doc, req.texts)
    return response_body(vectors, model, req.encoding_format, tokens), tokens
