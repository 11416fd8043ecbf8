from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plano.wire.usage import Usage, usage_of


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        (
            {
                "usage": {
                    "prompt_tokens": 10,
                    "completion_tokens": 3,
                    "prompt_tokens_details": {"cached_tokens": 4},
                }
            },
            Usage(10, 3, 4),
        ),
        ({"usage": {"input_tokens": 7, "output_tokens": 2}}, Usage(7, 2, None)),
        (
            {
                "usage": {
                    "input_tokens": 7,
                    "output_tokens": 2,
                    "input_tokens_details": {"cached_tokens": 1},
                }
            },
            Usage(7, 2, 1),
        ),
        (
            {
                "type": "message_start",
                "message": {"usage": {"input_tokens": 9, "cache_read_input_tokens": 5}},
            },
            Usage(14, None, 5),  # Anthropic's input_tokens is the uncached part
        ),
        (
            {
                "usage": {
                    "input_tokens": 3,
                    "output_tokens": 7,
                    "cache_read_input_tokens": 100,
                    "cache_creation_input_tokens": 20,
                }
            },
            Usage(123, 7, 100, 20),
        ),
        (
            {
                "type": "response.completed",
                "response": {"usage": {"input_tokens": 1, "output_tokens": 1}},
            },
            Usage(1, 1, None),
        ),
        ({"usage": None}, None),
        ({"usage": {"prompt_tokens": "x"}}, None),
        ([1, 2], None),
    ],
)
def test_usage_shapes(doc: Any, expected: Usage | None) -> None:
    assert usage_of(doc) == expected


def test_merge_keeps_what_later_reports_lack() -> None:
    u = Usage(9, None, 5)
    u.merge(Usage(None, 12, None))
    assert u == Usage(9, 12, 5)


_counts = st.one_of(st.none(), st.integers(-5, 10**6), st.text(max_size=3), st.booleans())


@given(
    st.fixed_dictionaries(
        {},
        optional={
            "input_tokens": _counts,
            "output_tokens": _counts,
            "cache_read_input_tokens": _counts,
            "cache_creation_input_tokens": _counts,
            "prompt_tokens": _counts,
            "completion_tokens": _counts,
        },
    )
)
def test_any_usage_block_decodes_or_is_none(block: dict[str, Any]) -> None:
    found = usage_of({"usage": block})
    if found is None:
        return
    for value in (found.prompt, found.completion, found.cached, found.cache_write):
        assert value is None or type(value) is int
    read, write = block.get("cache_read_input_tokens"), block.get("cache_creation_input_tokens")
    given_input = block.get("prompt_tokens", block.get("input_tokens"))
    if type(given_input) is int and "prompt_tokens" not in block:
        extra = sum(v for v in (read, write) if type(v) is int)
        assert found.prompt == given_input + extra  # Anthropic: the whole input
