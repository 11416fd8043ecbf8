"""Versions and the lifting of inline routing preferences to the top-level list."""

from __future__ import annotations

import pytest

from tests.unit.config.cases import assert_problem, load, one_error

LISTENERS = "listeners: [{name: llm, type: model}]\n"


@pytest.mark.parametrize(
    "version", ["v0.1", "v0.1.0", "0.1-beta", "0.2.0", "v0.3.0", "v0.4.0", "v0.2.0", "0.4.0"]
)
def test_supported_versions_load_as_v040(version: str) -> None:
    cfg = load(f"version: {version}\n" + LISTENERS)
    assert (cfg.version, cfg.declared_version) == ("v0.4.0", version)


@pytest.mark.parametrize("version", ["v0.5.0", "1", "0.1", "latest"])
def test_other_versions_are_refused(version: str) -> None:
    problem = one_error(f"version: {version}\n" + LISTENERS)
    assert_problem(problem, "version", 1, "is not supported; use one of v0.1, v0.1.0, 0.1-beta")


INLINE = """
version: v0.3.0
listeners: [{name: llm, type: model}]
model_providers:
  - model: openai/gpt-4o
    routing_preferences:
      - {name: code generation, description: write new code}
      - {name: review, description: review code}
  - model: anthropic/claude-sonnet-4-6
    routing_preferences:
      - {name: code generation, description: generate code}
  - model: groq/llama-3.3-70b
    routing_preferences:
      - {name: code generation, description: write new code}
"""


def test_inline_preferences_are_merged_by_name() -> None:
    cfg = load(INLINE)
    got = [(p.name, p.description, p.models) for p in cfg.routing_preferences]
    assert got == [
        (
            "code generation",
            "write new code",
            ("openai/gpt-4o", "anthropic/claude-sonnet-4-6", "groq/llama-3.3-70b"),
        ),
        ("review", "review code", ("openai/gpt-4o",)),
    ]
    messages = [(w.path, w.line, w.message) for w in cfg.warnings]
    assert messages[0][:2] == ("model_providers[0].routing_preferences", 5)
    assert "deprecated" in messages[0][2]
    assert messages[1][:2] == ("model_providers[1].routing_preferences[0].description", 10)
    assert "the first description is kept" in messages[1][2]
    assert len(messages) == 2


def test_top_level_preferences_of_the_same_name_win() -> None:
    cfg = load(
        INLINE
        + "routing_preferences:\n"
        + "  - {name: review, description: mine, models: [anthropic/claude-sonnet-4-6]}\n"
    )
    got = {p.name: (p.description, p.models) for p in cfg.routing_preferences}
    assert got["review"] == ("mine", ("anthropic/claude-sonnet-4-6",))
    assert list(got) == ["review", "code generation"]


def test_wildcard_with_inline_preferences_is_an_error() -> None:
    problem = one_error(
        """
        version: v0.3.0
        listeners: []
        model_providers:
          - model: openai/*
            routing_preferences: [{name: x, description: y}]
        """
    )
    assert_problem(problem, "model_providers[0].routing_preferences", 5, "is a wildcard")


def test_malformed_inline_preferences_are_reported_where_written() -> None:
    problem = one_error(
        """
        version: v0.3.0
        listeners: []
        model_providers:
          - model: openai/gpt-4o
            routing_preferences:
              - {name: x}
        """
    )
    assert_problem(
        problem, "model_providers[0].routing_preferences[0].description", 6, "missing required key"
    )


def test_problems_in_lifted_preferences_point_at_the_inline_entry() -> None:
    problem = one_error(
        """
        version: v0.3.0
        listeners: []
        model_providers:
          - model: openai/gpt-4o
            routing_preferences:
              - {name: x, description: y}
        routing_preferences:
          - {name: x2, description: y, models: [openai/gpt-4o]}
          - {name: x2, description: z, models: [openai/gpt-4o]}
        """
    )
    assert_problem(problem, "routing_preferences[1].name", 9, "is used twice")


def test_v040_inline_preferences_are_lifted_too() -> None:
    cfg = load(INLINE.replace("v0.3.0", "v0.4.0"))
    assert [p.name for p in cfg.routing_preferences] == ["code generation", "review"]


def test_top_level_preferences_in_an_older_file_warn() -> None:
    cfg = load(
        "version: v0.3.0\n"
        + LISTENERS
        + "model_providers: [{model: openai/gpt-4o}]\n"
        + "routing_preferences: [{name: a, description: b, models: [gpt-4o]}]\n"
    )
    assert cfg.version == "v0.4.0"
    (warning,) = cfg.warnings
    assert_problem(warning, "routing_preferences", 4, "this file says v0.3.0")
