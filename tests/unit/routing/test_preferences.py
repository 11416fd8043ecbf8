from __future__ import annotations

import pytest

from plano.errors import BadRequest
from plano.routing.preferences import ModelMetrics, Preference, Price, from_request


def test_cheapest_sorts_by_input_plus_output_unknown_last() -> None:
    m = ModelMetrics(cost={"a/x": Price(5, 15), "b/y": Price(1, 2), "z": Price(3, 3)})
    p = Preference("r", "d", ("a/x", "c/unknown", "b/y", "p/z", "d/unknown2"), "cheapest")
    assert p.ranked(m) == ("b/y", "p/z", "a/x", "c/unknown", "d/unknown2")


def test_fastest_sorts_by_latency() -> None:
    m = ModelMetrics(latency={"a/x": 0.9, "b/y": 0.2})
    assert Preference("r", "d", ("a/x", "b/y", "c/z"), "fastest").ranked(m) == (
        "b/y",
        "a/x",
        "c/z",
    )


def test_none_keeps_order() -> None:
    m = ModelMetrics(cost={"b": Price(0, 0)})
    assert Preference("r", "d", ("a", "b")).ranked(m) == ("a", "b")


def test_inline_preferences() -> None:
    prefs = from_request(
        [
            {
                "name": "code",
                "description": "code things",
                "models": ["openai/gpt-4o", "openai/gpt-4o-mini"],
                "selection_policy": {"prefer": "cheapest"},
            }
        ]
    )
    assert prefs.by_name["code"].prefer == "cheapest"
    assert prefs.routes_text.startswith('{"name": "code", "description": "code things", ')


@pytest.mark.parametrize(
    "raw",
    [
        "code",
        [{"name": "x"}],
        [{"name": "x", "description": "d", "models": []}],
        [{"name": "x", "description": "d", "models": ["m"], "selection_policy": {"prefer": "?"}}],
    ],
)
def test_bad_inline_preferences(raw: object) -> None:
    with pytest.raises(BadRequest):
        from_request(raw)
