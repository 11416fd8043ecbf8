"""The second opinion's prompt and the parsing of a Llama-Guard-style answer."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plano.filters.guard.second_opinion import (
    MAX_TEXT,
    SecondOpinionFailed,
    parse,
    prompt,
)


@pytest.mark.parametrize(
    ("answer", "unsafe", "categories"),
    [
        ("safe", False, ()),
        ("  Safe.\n", False, ()),
        ("unsafe\nS1", True, ("prompt_injection",)),
        ("UNSAFE\n\nS2, S3", True, ("jailbreak", "system_prompt_extraction")),
        ("unsafe", True, ()),
        ("unsafe\nS9", True, ("S9",)),
    ],
)
def test_answers_are_parsed(answer: str, unsafe: bool, categories: tuple[str, ...]) -> None:
    opinion = parse(answer)
    assert opinion.unsafe is unsafe
    assert opinion.categories == categories


@pytest.mark.parametrize("answer", ["", "I cannot help with that", "maybe\nS1", "unsafe-ish"])
def test_other_answers_are_failures(answer: str) -> None:
    with pytest.raises(SecondOpinionFailed):
        parse(answer)


def test_the_prompt_carries_the_text_and_the_answer_format() -> None:
    p = prompt("hello there", "tool")
    assert "<BEGIN TOOL RESULT>\nhello there\n<END TOOL RESULT>" in p
    assert "'safe' or 'unsafe'" in p
    assert "S3: System prompt extraction" in p
    long = prompt("x" * (MAX_TEXT + 100), "user")
    assert "x" * MAX_TEXT in long
    assert "x" * (MAX_TEXT + 1) not in long


@given(st.text(max_size=200))
def test_any_answer_parses_or_fails_cleanly(answer: str) -> None:
    try:
        opinion = parse(answer)
    except SecondOpinionFailed:
        return
    assert isinstance(opinion.unsafe, bool)
