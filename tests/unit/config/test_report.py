"""Problem and ConfigError rendering, `format_report`, and reading files."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from plano.config import Config, ConfigError, Problem, format_report, load_config
from plano.config.problems import format_path
from tests.unit.config.cases import BASE, load


def test_problem_text() -> None:
    problem = Problem(
        "model_providers[2].base_url",
        14,
        "base_url is required for provider 'ollama'",
        "plano_config.yaml",
    )
    assert str(problem) == (
        "plano_config.yaml:14: model_providers[2].base_url:"
        " base_url is required for provider 'ollama'"
    )
    assert str(Problem("", None, "the config is empty", "c.yaml")) == "c.yaml: the config is empty"
    assert str(Problem("version", 1, "bad")) == "line 1: version: bad"


def test_config_error_lists_every_problem() -> None:
    err = ConfigError([Problem("a", 1, "x", "f.yaml"), Problem("b", 2, "y", "f.yaml")])
    assert str(err) == "invalid config (2 problems):\n  f.yaml:1: a: x\n  f.yaml:2: b: y"
    assert isinstance(err, Exception) and len(err.problems) == 2


def test_format_report() -> None:
    errors = [Problem("a", 1, "broken", "f.yaml")]
    warnings = [Problem("b", 2, "odd", "f.yaml"), Problem("c", None, "odder", "f.yaml")]
    assert format_report(errors, warnings) == (
        "error: f.yaml:1: a: broken\n"
        "warning: f.yaml:2: b: odd\n"
        "warning: f.yaml: c: odder\n"
        "config is invalid (1 error, 2 warnings)"
    )
    assert format_report([], []) == "config is valid (0 errors, 0 warnings)"


def test_path_format() -> None:
    assert (
        format_path(("model_aliases", "arch.summarize.v1", "target"))
        == 'model_aliases["arch.summarize.v1"].target'
    )
    assert format_path(("listeners", 0, "agents", 1, "id")) == "listeners[0].agents[1].id"
    assert format_path(()) == ""


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "missing.yaml", env={})
    (problem,) = info.value.problems
    assert problem.source.endswith("missing.yaml")
    assert "cannot read config" in problem.message


def test_source_is_the_path(tmp_path: Path) -> None:
    path = tmp_path / "plano_config.yaml"
    path.write_text(BASE)
    cfg = load_config(path, env={})
    assert cfg.source == str(path)


def test_config_is_frozen_and_picklable() -> None:
    cfg = load(BASE + "model_aliases: {fast: {target: gpt-4o}}\nsystem_prompt: $UNSET\n")
    assert cfg.warnings
    with pytest.raises(ValueError, match="frozen"):
        cfg.model_listener.port = 1
    with pytest.raises(TypeError, match="read-only"):
        cfg.model_aliases["x"] = cfg.model_aliases["fast"]  # type: ignore[index]
    copy = pickle.loads(pickle.dumps(cfg))
    assert isinstance(copy, Config) and copy == cfg
    assert hash(copy) == hash(cfg)
    aliases = cfg.model_dump(mode="json")["model_aliases"]
    assert aliases == {"fast": {"target": "gpt-4o", "fallbacks": []}}


def test_warnings_do_not_block_loading() -> None:
    cfg = load(
        BASE.replace("access_key: sk-test", "access_key: sk-test\n    passthrough_auth: true")
    )
    assert len(cfg.warnings) == 1
