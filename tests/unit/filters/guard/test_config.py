"""The guard's config: its options, where it may be used, and what a bad entry is told."""

from __future__ import annotations

from plano.config.guards import GuardFilterConfig
from plano.filters.guard import PROMPT_GUARD_ID, prompt_guard
from tests.unit.config.cases import assert_problem, errors, load, one_error

PROVIDERS = """
        model_providers:
          - {model: openai/gpt-4o, access_key: k, default: true}
          - {model: openai/llama-guard, access_key: g, base_url: "http://127.0.0.1:9"}
"""


def test_a_guard_entry_with_every_option_loads() -> None:
    cfg = load(
        """
        version: v0.4.0
        filters:
          - id: jb
            type: guard
            threshold: 0.7
            action: redact
            message: nope
            inspect: [tool_results]
            rules: false
            max_chunks: 2
            second_opinion:
              {model: openai/llama-guard, when: always, timeout: 2s, on_failure: closed}
        listeners:
          - {name: m, type: model, input_filters: [jb]}
"""
        + PROVIDERS
    )
    (guard,) = cfg.filters
    assert isinstance(guard, GuardFilterConfig)
    assert (guard.threshold, guard.action, guard.inspect, guard.rules) == (
        0.7, "redact", ("tool_results",), False,
    )  # fmt: skip
    assert guard.second_opinion is not None
    assert guard.second_opinion.timeout == 2.0


def test_a_guard_has_no_url() -> None:
    problem = one_error(
        """
        version: v0.4.0
        filters: [{id: jb, type: guard, url: "http://localhost:1"}]
        listeners: [{name: m, type: model}]
        """
    )
    assert problem.message == "unknown key 'url' (not allowed in a 'type: guard' filter)"


def test_a_guard_is_refused_in_an_output_chain() -> None:
    problem = one_error(
        """
        version: v0.4.0
        filters: [{id: jb, type: guard}]
        listeners: [{name: m, type: model, output_filters: [jb]}]
        """
    )
    assert_problem(problem, "listeners[0].output_filters[0]", 3, "is a guard")


def test_the_second_opinion_names_a_configured_model() -> None:
    found = errors(
        """
        version: v0.4.0
        filters: [{id: jb, type: guard, second_opinion: {model: nowhere}}]
        listeners: [{name: m, type: model, input_filters: [jb]}]
"""
        + PROVIDERS
    )
    (problem,) = found
    assert_problem(problem, "filters[0].second_opinion.model", 2, "'nowhere' is not a configured")


def test_bad_values_are_refused_where_they_are() -> None:
    found = errors(
        """
        version: v0.4.0
        filters: [{id: jb, type: guard, threshold: 1.5, inspect: [everything]}]
        listeners: [{name: m, type: model}]
        """
    )
    assert [p.path for p in found] == ["filters[0].threshold", "filters[0].inspect[0]"]


def test_prompt_guards_compile_to_a_blocking_guard() -> None:
    cfg = load(
        """
        version: v0.4.0
        listeners: [{name: m, type: model}]
        prompt_guards:
          input_guards:
            jailbreak:
              on_exception: {message: "not today"}
        """
    )
    guard = prompt_guard(cfg.prompt_guards)
    assert guard is not None
    assert (guard.id, guard.action, guard.message) == (PROMPT_GUARD_ID, "block", "not today")
    assert prompt_guard(None) is None


def test_the_overload_policy_and_the_embedding_bound_load_and_bad_ones_are_placed() -> None:
    cfg = load(
        """
        version: v0.4.0
        filters: [{id: jb, type: guard, on_overload: closed}]
        listeners: [{name: m, type: model, input_filters: [jb]}]
        overrides: {embedding_max_pending: 3}
        """
    )
    (guard,) = cfg.filters
    assert isinstance(guard, GuardFilterConfig) and guard.on_overload == "closed"
    assert cfg.overrides is not None and cfg.overrides.embedding_max_pending == 3
    default = GuardFilterConfig(id="g", type="guard")
    assert default.on_overload == "open"
    found = errors(
        """
        version: v0.4.0
        filters: [{id: jb, type: guard, on_overload: maybe}]
        listeners: [{name: m, type: model}]
        overrides: {embedding_max_pending: 0}
        """
    )
    assert sorted(p.path for p in found) == [
        "filters[0].on_overload",
        "overrides.embedding_max_pending",
    ]
