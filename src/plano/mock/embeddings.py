"""Embeddings, as the mock answers them: OpenAI `POST …/embeddings`, Gemini
`POST …/models/{model}:batchEmbedContents` / `:embedContent`, and Bedrock `POST
/model/{id}/invoke` for Titan (`inputText`) and Cohere (`texts`) embedding models.

Vectors are deterministic: each is made from the SHA-256 of its input (the text, or the token
ids written as JSON), so the same input always gets the same vector, whatever the API asked.
Length: the request's `dimensions` (`outputDimensionality` for Gemini), else `DEFAULT_DIMS`;
unit length. Usage: one token per whitespace-separated word of each text (at least 1), or the
number of token ids; a spec's `usage` wins. OpenAI reports it in `usage`, Titan in
`inputTextTokenCount`, Cohere in the `X-Amzn-Bedrock-Input-Token-Count` header; Gemini not at all.
"""

from __future__ import annotations

import hashlib
import math
import re
import struct
from typing import Any, Final
from urllib.parse import unquote

import orjson

from plano.mock.dialect import body_model
from plano.mock.openai_chat import error_body
from plano.mock.request import MockRequest
from plano.mock.response import Reply
from plano.mock.script import ReplySpec
from plano.wire import gemini as gemini_wire
from plano.wire.bedrock_converse import error_body as bedrock_error_body
from plano.wire.openai_embeddings import response_body

DEFAULT_DIMS: Final = 8
MAX_DIMS: Final = 4096
_BATCH: Final = ":batchEmbedContents"
_ONE: Final = ":embedContent"
_INVOKE: Final = re.compile(r"/model/([^/]+)/invoke$")


def mock_vector(text: str, dims: int = DEFAULT_DIMS) -> list[float]:
    """The mock's vector for one input (also what tests compare with)."""
    out: list[float] = []
    block = 0
    while len(out) < dims:
        digest = hashlib.sha256(f"{block}:{text}".encode()).digest()
        out.extend(v / 2**31 - 1.0 for v in struct.unpack("<8I", digest))
        block += 1
    vec = out[:dims]
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    # Rounded to float32, so a `base64` answer decodes to exactly these values.
    return [struct.unpack("<f", struct.pack("<f", v / norm))[0] for v in vec]


def _dims(value: Any) -> int:
    return value if type(value) is int and 1 <= value <= MAX_DIMS else DEFAULT_DIMS


def _inputs(value: Any) -> list[tuple[str, int]]:
    """(what is hashed, its tokens) per input."""
    if isinstance(value, str):
        return [(value, max(1, len(value.split())))]
    if isinstance(value, list) and value and all(type(t) is int for t in value):
        return [(orjson.dumps(value).decode(), len(value))]
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, str):
                out.append((item, max(1, len(item.split()))))
            else:
                out.append((orjson.dumps(item).decode(), len(item) if type(item) is list else 1))
        return out
    return []


class OpenAIEmbeddings:
    name = "openai_embeddings"

    def matches(self, path: str) -> bool:
        return path.endswith("/embeddings")

    def model(self, request: MockRequest) -> str | None:
        model = body_model(request)
        if model is not None:
            return model
        parts = request.path.split("/")  # Azure: /openai/deployments/{deployment}/embeddings
        if "deployments" in parts and parts.index("deployments") + 1 < len(parts):
            return parts[parts.index("deployments") + 1]
        return None

    def reply(self, request: MockRequest, spec: ReplySpec) -> Reply:
        body = request.body if isinstance(request.body, dict) else {}
        inputs = _inputs(body.get("input"))
        if not inputs:
            return self.error(400, "'input' is a required property")
        dims = _dims(body.get("dimensions"))
        fmt = "base64" if body.get("encoding_format") == "base64" else "float"
        tokens = spec.usage[0] if spec.usage is not None else sum(n for _, n in inputs)
        vectors = [mock_vector(text, dims) for text, _ in inputs]
        return Reply(body=response_body(vectors, self.model(request) or "mock-model", fmt, tokens))

    def error(self, status: int, message: str) -> Reply:
        return Reply(status=status, body=error_body(status, message))


class GeminiEmbeddings:
    name = "gemini_embeddings"

    def matches(self, path: str) -> bool:
        return "/models/" in path and path.endswith((_BATCH, _ONE))

    def model(self, request: MockRequest) -> str | None:
        tail = request.path.rsplit("/models/", 1)[-1]
        return unquote(tail.rsplit(":", 1)[0]) or None

    def reply(self, request: MockRequest, spec: ReplySpec) -> Reply:
        if not request.headers.get(gemini_wire.API_KEY_HEADER) and "key=" not in request.query:
            return self.error(403, "Method doesn't allow unregistered callers.")
        body = request.body if isinstance(request.body, dict) else {}
        if request.path.endswith(_ONE):
            vec = _one(body)
            if vec is None:
                return self.error(400, "content.parts[].text is required")
            return Reply(body=orjson.dumps({"embedding": {"values": vec}}))
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return self.error(400, "requests must be a non-empty list")
        vectors = []
        for item in requests:
            vec = _one(item) if isinstance(item, dict) else None
            if vec is None:
                return self.error(400, "requests[].content.parts[].text is required")
            vectors.append({"values": vec})
        return Reply(body=orjson.dumps({"embeddings": vectors}))

    def error(self, status: int, message: str) -> Reply:
        return Reply(status=status, body=gemini_wire.error_body(status, message))


def _one(req: dict[str, Any]) -> list[float] | None:
    content = req.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    if not isinstance(parts, list) or not parts:
        return None
    texts = [p.get("text") for p in parts if isinstance(p, dict)]
    if not texts or not all(isinstance(t, str) for t in texts):
        return None
    return mock_vector("".join(str(t) for t in texts), _dims(req.get("outputDimensionality")))


class BedrockEmbeddings:
    name = "bedrock_embeddings"

    def matches(self, path: str) -> bool:
        return _INVOKE.search(path) is not None

    def model(self, request: MockRequest) -> str | None:
        m = _INVOKE.search(request.path)
        return unquote(m.group(1)) if m else None

    def reply(self, request: MockRequest, spec: ReplySpec) -> Reply:
        if not request.headers.get("authorization", "").strip():
            return self.error(403, "Missing Authentication Token")
        body = request.body if isinstance(request.body, dict) else {}
        model = (self.model(request) or "").lower()
        if "titan-embed" in model:
            text = body.get("inputText")
            if not isinstance(text, str) or not text:
                return self.error(400, "inputText is required")
            tokens = spec.usage[0] if spec.usage is not None else len(text.split()) or 1
            vec = mock_vector(text, _dims(body.get("dimensions")))
            return Reply(body=orjson.dumps({"embedding": vec, "inputTextTokenCount": tokens}))
        texts = body.get("texts")
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return self.error(400, "texts must be a non-empty list of strings")
        dims = _dims(body.get("output_dimension"))
        vectors = [mock_vector(t, dims) for t in texts]
        tokens = spec.usage[0] if spec.usage is not None else sum(n for _, n in _inputs(texts))
        doc = {
            "embeddings": vectors,
            "id": "mock",
            "response_type": "embeddings_floats",
            "texts": texts,
        }
        return Reply(
            body=orjson.dumps(doc), headers=(("x-amzn-bedrock-input-token-count", str(tokens)),)
        )

    def error(self, status: int, message: str) -> Reply:
        return Reply(status=status, body=bedrock_error_body(message))
