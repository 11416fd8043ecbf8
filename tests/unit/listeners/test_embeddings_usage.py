"""The usage of an embeddings answer is read from its `usage` object, not the vectors."""

from __future__ import annotations

import orjson

from plano.listeners.model.embeddings import note_embeddings_usage
from plano.observability.record import RequestRecord


def _record() -> RequestRecord:
    return RequestRecord("llm", "model", "POST", "/v1/embeddings")


def test_usage_after_the_vectors() -> None:
    r = _record()
    body = orjson.dumps(
        {"data": [{"embedding": [0.5] * 1000}], "usage": {"prompt_tokens": 7, "total_tokens": 7}}
    )
    note_embeddings_usage(r, body)
    assert (r.prompt_tokens, r.completion_tokens) == (7, None)


def test_nested_or_missing_usage() -> None:
    r = _record()
    body = orjson.dumps(
        {"usage": {"prompt_tokens": 3, "prompt_tokens_details": {"cached_tokens": 1}}}
    )
    note_embeddings_usage(r, body)
    assert (r.prompt_tokens, r.cached_tokens) == (3, 1)
    r = _record()
    note_embeddings_usage(r, b'{"data": []}')
    assert r.prompt_tokens is None
