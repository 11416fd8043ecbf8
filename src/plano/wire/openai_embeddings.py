"""OpenAI `POST /v1/embeddings` wire facts: the request as the gateway reads it, the limits.

Request: `model` (string), `input` (a string, an array of strings, an array of token ids, or an
array of token-id arrays), `encoding_format` (`float`, the default, or `base64`: each vector as
the base64 of its little-endian float32 bytes), `dimensions` (a positive integer), `user`.
Response: `{"object": "list", "data": [{"object": "embedding", "index": i, "embedding": ...}],
"model": ..., "usage": {"prompt_tokens": n, "total_tokens": n}}`.

`parse` checks the shape only (what a provider would refuse anyway, refused early with the
parameter named); everything else in the body is forwarded as it is.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any, Final

import orjson

from plano.errors import BadRequest, UpstreamProtocolError

PATH: Final = "/v1/embeddings"
# Inputs per request, as OpenAI's own limit (providers with lower limits answer their own 400).
MAX_INPUTS: Final = 2048
MAX_DIMENSIONS: Final = 65536
FORMATS: Final = ("float", "base64")


@dataclass(frozen=True, slots=True)
class EmbeddingsRequest:
    """The parts of a client's request the gateway reads."""

    model: str
    texts: tuple[str, ...] | None  # the inputs as text, or None when given as token ids
    tokens: tuple[tuple[int, ...], ...] | None  # the inputs as token-id arrays
    encoding_format: str  # "float" or "base64"
    dimensions: int | None

    @property
    def count(self) -> int:
        return len(self.texts if self.texts is not None else self.tokens or ())


def _is_int(value: Any) -> bool:
    return type(value) is int


def _token_array(value: Any, where: str) -> tuple[int, ...]:
    if not value:
        raise BadRequest(f"{where} must not be an empty token array", param="input")
    for t in value:
        if not _is_int(t) or t < 0:
            raise BadRequest(f"{where} must hold non-negative integer token ids", param="input")
    return tuple(value)


def _too_many(n: int) -> BadRequest:
    return BadRequest(
        f"`input` has {n} items; at most {MAX_INPUTS} inputs are allowed per request",
        param="input",
    )


def _inputs(value: Any) -> tuple[tuple[str, ...] | None, tuple[tuple[int, ...], ...] | None]:
    if value is None:
        raise BadRequest("`input` is required", param="input")
    if isinstance(value, str):
        if not value:
            raise BadRequest("`input` must not be an empty string", param="input")
        return (value,), None
    if not isinstance(value, list):
        raise BadRequest(
            "`input` must be a string, an array of strings, an array of token ids or an array "
            "of token-id arrays",
            param="input",
        )
    if not value:
        raise BadRequest("`input` must not be an empty array", param="input")
    first = value[0]
    if isinstance(first, str):
        if len(value) > MAX_INPUTS:
            raise _too_many(len(value))
        for i, s in enumerate(value):
            if not isinstance(s, str):
                raise BadRequest(f"`input[{i}]` must be a string like the others", param="input")
            if not s:
                raise BadRequest(f"`input[{i}]` must not be an empty string", param="input")
        return tuple(value), None
    if _is_int(first):
        return None, (_token_array(value, "`input`"),)
    if isinstance(first, list):
        if len(value) > MAX_INPUTS:
            raise _too_many(len(value))
        arrays = []
        for i, a in enumerate(value):
            if not isinstance(a, list):
                raise BadRequest(f"`input[{i}]` must be a token-id array", param="input")
            arrays.append(_token_array(a, f"`input[{i}]`"))
        return None, tuple(arrays)
    raise BadRequest(
        "`input` array items must be strings, token ids or token-id arrays", param="input"
    )


def parse(doc: dict[str, Any]) -> EmbeddingsRequest:
    """The request's view; BadRequest (400, the parameter named) when it is malformed."""
    model = doc.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("`model` is required and must be a string", param="model")
    texts, tokens = _inputs(doc.get("input"))
    fmt = doc.get("encoding_format", "float")
    if fmt is None:
        fmt = "float"
    if fmt not in FORMATS:
        raise BadRequest("`encoding_format` must be 'float' or 'base64'", param="encoding_format")
    dims = doc.get("dimensions")
    if dims is not None and (not _is_int(dims) or not 1 <= dims <= MAX_DIMENSIONS):
        raise BadRequest(
            f"`dimensions` must be an integer from 1 to {MAX_DIMENSIONS}", param="dimensions"
        )
    user = doc.get("user")
    if user is not None and not isinstance(user, str):
        raise BadRequest("`user` must be a string", param="user")
    return EmbeddingsRequest(model, texts, tokens, fmt, dims)


def encode_vector(values: list[float], encoding_format: str) -> list[float] | str:
    """One vector as the client asked for it (`base64`: little-endian float32 bytes)."""
    if encoding_format == "base64":
        try:
            packed = struct.pack(f"<{len(values)}f", *values)
        except (OverflowError, struct.error):
            raise UpstreamProtocolError("an embedding value does not fit a float32") from None
        return base64.b64encode(packed).decode()
    return values


def decode_base64_vector(text: str) -> list[float]:
    """The floats of a `base64` vector (tests and the mock)."""
    raw = base64.b64decode(text)
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


def response_body(
    vectors: list[list[float]], model: str, encoding_format: str, prompt_tokens: int
) -> bytes:
    """A whole `/v1/embeddings` answer."""
    data = [
        {"object": "embedding", "index": i, "embedding": encode_vector(v, encoding_format)}
        for i, v in enumerate(vectors)
    ]
    usage = {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens}
    return orjson.dumps({"object": "list", "data": data, "model": model, "usage": usage})
