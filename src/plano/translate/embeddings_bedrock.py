"""OpenAI `/v1/embeddings` to and from Bedrock `InvokeModel` for embedding models.

`POST /model/{modelId}/invoke` with the model's own body:

- Amazon Titan text embeddings (`amazon.titan-embed-text-*`, `amazon.titan-embed-g1-text-*`):
  `{"inputText": text, "dimensions": n}` → `{"embedding": [...], "inputTextTokenCount": n}`.
  One text per call: a request with several inputs is refused (400) rather than split.
- Cohere Embed (`cohere.embed-*`): `{"texts": [...], "input_type": "search_document"}` (and
  `output_dimension` when `dimensions` is given) → `{"embeddings": [[...], ...]}` (or
  `{"embeddings": {"float": [[...], ...]}}`).

Text only (token-id inputs are a 400). Usage: Bedrock's `X-Amzn-Bedrock-Input-Token-Count`
response header when present, else Titan's `inputTextTokenCount`, else the gateway's estimate.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from plano.errors import BadRequest, UpstreamProtocolError
from plano.translate.embeddings_gemini import estimate_tokens
from plano.wire.openai_embeddings import EmbeddingsRequest, response_body

TITAN: Final = "titan"
COHERE: Final = "cohere"
TOKEN_COUNT_HEADER: Final = b"x-amzn-bedrock-input-token-count"


def family(model_id: str) -> str | None:
    """Which embeddings body a Bedrock model takes (None: not an embedding model we know)."""
    low = model_id.lower()
    if "titan-embed" in low:
        return TITAN
    if "cohere.embed" in low:
        return COHERE
    return None


def to_bedrock(req: EmbeddingsRequest, model_id: str) -> bytes:
    kind = family(model_id)
    texts = req.texts
    if texts is None:
        raise BadRequest(
            f"model '{req.model}' (provider amazon_bedrock) embeds text only; `input` holds "
            "token ids",
            param="input",
        )
    body: dict[str, Any]
    if kind == TITAN:
        if len(texts) != 1:
            raise BadRequest(
                f"model '{req.model}' (Bedrock Titan) embeds one input per request; `input` has "
                f"{len(texts)}",
                param="input",
            )
        body = {"inputText": texts[0]}
        if req.dimensions is not None:
            body["dimensions"] = req.dimensions
    else:
        body = {"texts": list(texts), "input_type": "search_document"}
        if req.dimensions is not None:
            body["output_dimension"] = req.dimensions
    return orjson.dumps(body)


def _floats(values: Any) -> list[float]:
    if type(values) is not list or not all(type(v) in (float, int) for v in values):
        raise UpstreamProtocolError("Bedrock answered an embedding without numeric values")
    return values


def from_bedrock(
    data: bytes, req: EmbeddingsRequest, model_id: str, header_tokens: int | None
) -> tuple[bytes, int]:
    """The OpenAI answer for Bedrock's, and its prompt tokens."""
    assert req.texts is not None
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise UpstreamProtocolError("Bedrock answered with a body that is not JSON") from None
    if type(doc) is not dict:
        raise UpstreamProtocolError("Bedrock answered with a body that is not an object")
    tokens = header_tokens
    if family(model_id) == TITAN:
        vectors = [_floats(doc.get("embedding"))]
        count = doc.get("inputTextTokenCount")
        if tokens is None and type(count) is int:
            tokens = count
    else:
        items = doc.get("embeddings")
        if type(items) is dict:
            items = items.get("float")
        if type(items) is not list or len(items) != len(req.texts):
            raise UpstreamProtocolError("Bedrock answered without one embedding per input")
        vectors = [_floats(v) for v in items]
    if tokens is None:
        tokens = estimate_tokens(req.texts)
    return response_body(vectors, model_id, req.encoding_format, tokens), tokens
