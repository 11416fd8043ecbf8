"""The PII filter on arbitrary input: any JSON shape as a request or an answer, any bytes as an
event stream, never an exception (a `block` entity aside, which is the filter's own 400), and
what it returns for a request is still JSON of the same shape."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.config.guards import PiiFilterConfig
from plano.filters.pii.filter import PiiFilter
from plano.filters.pii.request import PiiBlocked
from plano.filters.types import FilterContext

FILTER = PiiFilter(
    PiiFilterConfig.model_validate(
        {
            "id": "pii",
            "type": "pii",
            "names": ["Alice Martin"],
            "entities": {
                "email": "redact",
                "phone": "mask",
                "card": "redact",
                "iban": "redact",
                "ip": "redact",
                "secret": "block",
                "name": "redact",
            },
        }
    )
)
TEXT = st.text(
    alphabet=st.sampled_from(list("ab <>_-+@.:()0123456789AKIADEGB\né"))
    | st.characters(exclude_categories=("Cs",)),
    max_size=60,
) | st.sampled_from(
    [
        "alice@example.com",
        "+33 6 12 34 56 78",
        "4111 1111 1111 1111",
        "10.0.0.1",
        "<EMAIL_1>",
        "Alice Martin",
    ]
)
JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "messages",
                    "input",
                    "system",
                    "instructions",
                    "content",
                    "text",
                    "role",
                    "type",
                    "output",
                    "choices",
                    "delta",
                    "arguments",
                    "tool_calls",
                    "function",
                    "finish_reason",
                    "index",
                    "delta",
                    "content_block",
                    "output_index",
                    "part",
                    "id",
                    "x",
                ]
            )
            | TEXT,
            inner,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def run(body: bytes, ctx: FilterContext) -> bytes:
    return asyncio.run(FILTER.apply(body, "/v1/chat/completions", [], ctx))


@settings(max_examples=300, deadline=None)
@given(JSON, JSON)
def test_any_json_request_then_answer(request: Any, answer: Any) -> None:
    ctx = FilterContext()
    body = orjson.dumps(request)
    try:
        out = run(body, ctx)
    except PiiBlocked:
        return
    doc = orjson.loads(out)
    assert type(doc) is type(request)
    if isinstance(request, dict):
        assert doc.keys() == request.keys()
    run(orjson.dumps(answer), ctx)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.binary(max_size=80) | JSON.map(lambda d: b"data: " + orjson.dumps(d) + b"\n\n"),
        max_size=6,
    )
)
def test_any_bytes_as_stream_blocks(blocks: list[bytes]) -> None:
    ctx = FilterContext()
    run(orjson.dumps({"messages": [{"role": "user", "content": "mail alice@example.com"}]}), ctx)
    for block in blocks:
        assert isinstance(run(block, ctx), bytes)
