from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from plano.agents.prompt_targets.hallucination import entropy_varentropy, flagged


def token(text: str, probs: list[float]) -> dict[str, object]:
    top = [{"token": text, "logprob": math.log(p)} for p in probs]
    return {"token": text, "logprob": math.log(probs[0]), "top_logprobs": top}


ANSWER = '{"tool_calls": [{"name": "w", "arguments": {"city": "Paris", "days": 3}}]}'


def tokens(unsure: str) -> list[dict[str, object]]:
    out = []
    for piece in (
        '{"tool_calls": [{"name": "w", "arguments": {"city": ',
        '"Paris"',
        ', "days": ',
        "3",
        "}}]}",
    ):
        out.append(token(piece, [0.45, 0.3, 0.15, 0.1] if piece == unsure else [1.0]))
    return out


def test_an_unsure_value_is_flagged_by_name() -> None:
    args = {"city": "Paris", "days": 3}
    assert flagged(ANSWER, tokens('"Paris"'), 0, args) == ("city",)
    assert flagged(ANSWER, tokens("3"), 0, args) == ("days",)
    assert flagged(ANSWER, tokens("none"), 0, args) == ()


def test_uniform_or_certain_tokens_are_not_uncertain() -> None:
    assert entropy_varentropy([0.0]) == (0.0, 0.0)
    h, v = entropy_varentropy([math.log(0.5), math.log(0.5)])
    assert h > 0.6 and v < 1e-12


@given(st.lists(st.floats(min_value=-50, max_value=0), max_size=10))
def test_entropy_is_never_negative(logprobs: list[float]) -> None:
    h, v = entropy_varentropy(logprobs)
    assert h >= -1e-9 and v >= -1e-9


@given(st.text(), st.lists(st.fixed_dictionaries({"token": st.text(max_size=5)}), max_size=5))
def test_any_tokens_are_read(text: str, toks: list[dict[str, str]]) -> None:
    flagged(text, toks, 0, {"a": "b"})
