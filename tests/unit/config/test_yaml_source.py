"""YAML parsing: syntax errors, duplicate keys, anchors, and line numbers of later problems."""

from __future__ import annotations

from tests.unit.config.cases import BASE, assert_problem, errors, load, one_error


def test_syntax_error_is_one_problem_with_its_line() -> None:
    problem = one_error(
        """
        version: v0.4.0
        listeners:
          - name: llm
            type: model
           bad: indentation
        """
    )
    assert problem.line == 5
    assert problem.message.startswith("invalid YAML")
    assert str(problem).startswith("plano_config.yaml:5: invalid YAML")


def test_unclosed_flow_sequence() -> None:
    problem = one_error("version: v0.4.0\nlisteners: [\n")
    assert problem.message.startswith("invalid YAML")
    assert problem.line is not None


def test_empty_document() -> None:
    assert one_error("").message == "the config is empty"


def test_top_level_must_be_a_mapping() -> None:
    assert_problem(one_error("- a\n- b\n"), "", 1, "must be a mapping")


def test_several_documents_are_refused() -> None:
    problem = one_error(BASE + "---\nversion: v0.4.0\n")
    assert "invalid YAML" in problem.message


def test_unsafe_tags_are_refused() -> None:
    problem = one_error(BASE + "system_prompt: !!python/object:os.system {}\n")
    assert_problem(
        problem, "", 9, "unsupported YAML tag 'tag:yaml.org,2002:python/object:os.system'"
    )
    problem = one_error(BASE + "system_prompt: !!python/name:os.system ''\n")
    assert problem.line == 9
    assert "invalid YAML" in problem.message


def test_duplicate_keys_are_errors() -> None:
    problem = one_error(
        """
        version: v0.4.0
        listeners:
          - name: llm
            type: model
            port: 1000
            port: 2000
        """
    )
    assert_problem(problem, "listeners[0].port", 6, "duplicate key 'port' (first given on line 5)")


def test_anchors_and_merge_keys() -> None:
    cfg = load(
        """
        version: v0.4.0
        listeners: [{name: llm, type: model}]
        model_providers:
          - &openai {model: openai/gpt-4o, access_key: k1}
          - <<: *openai
            model: openai/gpt-4o-mini
        """
    )
    keys = [(p.model, p.access_key) for p in cfg.visible_providers]
    assert keys == [("openai/gpt-4o", "k1"), ("openai/gpt-4o-mini", "k1")]


def test_numeric_keys_become_strings() -> None:
    cfg = load(BASE.replace("access_key: sk-test", "headers: {200: ok}"))
    assert dict(cfg.model_providers[0].headers) == {"200": "ok"}


def test_unknown_keys_name_their_line_at_every_depth() -> None:
    found = errors(
        """
        version: v0.4.0
        colour: blue
        listeners:
          - name: llm
            type: model
            tiemout: 30s
        routing:
          session_cache: {type: memory, ttl: 3}
        """
    )
    assert [(p.path, p.line) for p in found] == [
        ("colour", 2),
        ("listeners[0].tiemout", 6),
        ("routing.session_cache.ttl", 8),
    ]
    assert found[0].message == "unknown key 'colour'"
    assert found[1].message == "unknown key 'tiemout' (did you mean 'timeout'?)"


def test_missing_required_keys() -> None:
    found = errors("model_providers: []\n")
    assert [(p.path, p.message) for p in found] == [
        ("version", "missing required key 'version'"),
        ("listeners", "missing required key 'listeners'"),
    ]


def test_wrong_types_are_reported_at_the_value() -> None:
    problem = one_error(BASE + "tracing:\n  random_sampling: lots\n")
    assert_problem(problem, "tracing.random_sampling", 10, "valid integer")


def test_union_errors_are_merged_into_one_path() -> None:
    found = errors(
        BASE
        + """\
prompt_targets:
  - name: t
    description: d
    parameters:
      - {name: p, description: d, type: str, default: [1]}
"""
    )
    assert len(found) == 1
    assert_problem(
        found[0],
        "prompt_targets[0].parameters[0].default",
        13,
        "input should be a valid string or a valid integer or a valid number or a valid boolean",
    )
