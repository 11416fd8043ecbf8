"""Small builders shared by the config tests."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import pytest

from plano.config import Config, ConfigError, Problem, load_config_text

SOURCE = "plano_config.yaml"

# A minimal valid config; tests append or replace sections.
BASE = """\
version: v0.4.0
listeners:
  - name: llm
    type: model
model_providers:
  - model: openai/gpt-4o
    access_key: sk-test
    default: true
"""


def text(body: str) -> str:
    return textwrap.dedent(body).lstrip("\n")


def load(body: str, env: Mapping[str, str] | None = None) -> Config:
    return load_config_text(text(body), source=SOURCE, env={} if env is None else env)


def errors(body: str, env: Mapping[str, str] | None = None) -> tuple[Problem, ...]:
    with pytest.raises(ConfigError) as info:
        load(body, env)
    assert info.value.problems, "ConfigError without problems"
    return info.value.problems


def one_error(body: str, env: Mapping[str, str] | None = None) -> Problem:
    found = errors(body, env)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def find(problems: tuple[Problem, ...], path: str) -> Problem:
    matches = [p for p in problems if p.path == path]
    assert matches, f"no problem at {path}; got:\n" + "\n".join(map(str, problems))
    return matches[0]


def assert_problem(problem: Problem, path: str, line: int | None, fragment: str) -> None:
    assert problem.path == path, str(problem)
    assert problem.line == line, str(problem)
    assert fragment in problem.message, str(problem)
