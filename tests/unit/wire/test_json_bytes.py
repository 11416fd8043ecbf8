"""`json_bytes`: orjson's output in an allocation of its own size (a body kept a request's life)."""

from __future__ import annotations

import tracemalloc
from typing import Any

import orjson
import pytest

from plano.wire.api import TIGHT_BELOW, json_bytes

DOCS = [
    {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    {"model": "m", "messages": [{"role": "user", "content": "lorem ipsum " * 250}]},
    {"input": [{"type": "input_text", "text": "x" * (TIGHT_BELOW - 100)}]},
]


def held(make: Any) -> tuple[bytes, int]:
    """What `make()` returns, and the bytes the allocator still holds for it."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        out = make()
        return out, tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("doc", DOCS)
def test_short_json_is_held_in_a_buffer_of_its_size(doc: dict[str, Any]) -> None:
    out, size = held(lambda: json_bytes(doc))
    assert out == orjson.dumps(doc)
    assert size <= len(out) + 128  # the bytes object's header; orjson's own buffer is >= 4 KB


def test_orjson_alone_holds_more_than_its_output() -> None:
    """Why the copy exists: if orjson ever shrinks its buffer, `json_bytes` can go."""
    out, size = held(lambda: orjson.dumps(DOCS[0]))
    assert size >= 1024 > len(out)


def test_long_json_is_not_copied() -> None:
    doc = {"input": "y" * TIGHT_BELOW}
    assert json_bytes(doc) == orjson.dumps(doc)
