from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.config import load_config_text
from plano.config.problems import ConfigError
from plano.errors import BadRequest
from plano.routing.preferences import ModelMetrics, Preference, Price, from_config, from_request


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
        [{"name": "x", "description": "d", "models": ["m"], "examples": "write code"}],
        [{"name": "x", "description": "d", "models": ["m"], "examples": ["ok", 3]}],
        [{"name": "x", "description": "d", "models": ["m"], "examples": ["  "]}],
    ],
)
def test_bad_inline_preferences(raw: object) -> None:
    with pytest.raises(BadRequest):
        from_request(raw)


def test_inline_examples_and_the_vector_key() -> None:
    route = {"name": "code", "description": "code things", "models": ["m"]}
    plain = from_request([route])
    taught = from_request([{**route, "examples": ["write a parser in Go"]}])
    assert taught.by_name["code"].examples == ("write a parser in Go",)
    assert plain.routes_text == taught.routes_text  # the router model's prompt is unchanged
    assert plain.key != taught.key  # but the embedded router's vectors differ


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
route_like = st.fixed_dictionaries(
    {},
    optional={
        "name": st.text(max_size=6) | json_values,
        "description": st.text(max_size=6) | json_values,
        "models": st.lists(st.text(max_size=4), max_size=3) | json_values,
        "examples": st.lists(st.text(max_size=6), max_size=3) | json_values,
        "selection_policy": st.fixed_dictionaries({"prefer": st.sampled_from(["none", "x"])})
        | json_values,
    },
)


@settings(max_examples=400)
@given(st.lists(route_like, max_size=3) | json_values)
def test_inline_preferences_fuzz(raw: Any) -> None:
    """Any JSON value: a preference set, or the client's error (400), never anything else."""
    try:
        prefs = from_request(raw)
    except BadRequest:
        return
    assert all(isinstance(e, str) and e.strip() for r in prefs.routes for e in r.examples)


CONFIG = """
version: v0.4.0
model_providers:
  - {model: openai/gpt-4o, access_key: k, default: true}
listeners: [{name: llm, type: model, port: 12000}]
routing_preferences:
  - name: code
    description: writing new code
    models: [openai/gpt-4o]
    examples: %s
routing: {router: {type: embedded, no_match_margin: 0.05, other_anchors: [weather chat]}}
"""


def test_config_examples_and_router_knobs() -> None:
    config = load_config_text(CONFIG % '["a parser in Go", "a bash script"]', source="t.yaml")
    assert from_config(config.routing_preferences).routes[0].examples == (
        "a parser in Go",
        "a bash script",
    )
    rc = config.routing.router
    assert rc.no_match_margin == 0.05 and rc.other_anchors == ("weather chat",)


@pytest.mark.parametrize("bad", ["a parser", "[1, 2]", '[""]'])
def test_bad_examples_say_where(bad: str) -> None:
    with pytest.raises(ConfigError, match=r"routing_preferences.*0.*examples"):
        load_config_text(CONFIG % bad, source="t.yaml")
