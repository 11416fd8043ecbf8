"""`$VAR` / `${VAR}` substitution, `$$` escapes, unset variables, and `.env` files."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plano.config import load_config
from plano.config.env import expand, references
from tests.unit.config.cases import BASE, load

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)


def test_both_spellings_and_escape() -> None:
    env = {"A": "1", "B_2": "two"}
    assert expand("x$A-${B_2}y", env) == ("x1-twoy", [])
    assert expand("$$A costs $$5 and ${A}$$", env) == ("$A costs $5 and 1$", [])


def test_a_dollar_without_a_name_stays() -> None:
    assert expand("price: $5, $ alone, ${not closed, ${1X}", {}) == (
        "price: $5, $ alone, ${not closed, ${1X}",
        [],
    )


def test_unset_names_become_empty_and_are_reported() -> None:
    assert expand("a$X b${Y}c$X", {}) == ("a bc", ["X", "Y", "X"])


def test_references_skip_escapes() -> None:
    assert references("$A ${B} $$C $$ $") == ["A", "B"]


@given(st.text())
def test_escaped_text_round_trips(text: str) -> None:
    assert expand(text.replace("$", "$$"), {}) == (text, [])


@given(NAMES, st.text())
def test_braced_reference_is_replaced_by_its_value(name: str, value: str) -> None:
    assert expand(f"<${{{name}}}>", {name: value}) == (f"<{value}>", [])


@given(st.text(alphabet=st.characters(blacklist_characters="$")))
def test_text_without_dollar_is_untouched(text: str) -> None:
    assert expand(text, {"X": "y"}) == (text, [])


def test_every_string_value_is_substituted_but_not_keys() -> None:
    cfg = load(
        """
        version: v0.4.0
        listeners:
          - {name: $NAME, type: model, port: $PORT}
        model_providers:
          - model: ollama/llama3
            base_url: ${BASE}
            access_key: $KEY
            headers: {$HDR: "Bearer ${TOKEN}", x-literal: "$$KEY"}
        endpoints:
          api: {endpoint: "${HOST}:8080"}
        prompt_targets:
          - name: t
            description: d
            endpoint: {name: api, path: /x, http_headers: {Authorization: "Bearer $TOKEN"}}
        state_storage: {type: postgres, connection_string: "postgresql://u:$PW@db/plano"}
        """,
        env={
            "NAME": "llm",
            "PORT": "12001",
            "BASE": "http://h:11434",
            "KEY": "k",
            "TOKEN": "t",
            "HOST": "api.local",
            "PW": "secret",
            "HDR": "never-used",
        },
    )
    assert (cfg.model_listener.name, cfg.model_listener.port) == ("llm", 12001)
    provider = cfg.model_providers[0]
    assert (provider.base_url, provider.access_key) == ("http://h:11434", "k")
    assert dict(provider.headers) == {"$HDR": "Bearer t", "x-literal": "$KEY"}
    assert cfg.endpoints["api"].host_port == ("api.local", 8080)
    endpoint = cfg.prompt_targets[0].endpoint
    assert endpoint is not None and dict(endpoint.http_headers) == {"Authorization": "Bearer t"}
    assert cfg.state_storage is not None
    assert cfg.state_storage.connection_string == "postgresql://u:secret@db/plano"
    assert cfg.missing_env == ()


def test_unset_variables_are_recorded_with_a_warning_per_variable() -> None:
    cfg = load(
        BASE.replace("sk-test", "$OPENAI_API_KEY")
        + "  - {model: openai/gpt-4o-mini, access_key: $OPENAI_API_KEY}\n"
        + "tracing: {exporters: [{type: posthog, url: 'https://ph', api_key: '${PH_KEY}'}]}\n"
    )
    assert cfg.missing_env == (
        ("model_providers[0].access_key", "OPENAI_API_KEY"),
        ("model_providers[1].access_key", "OPENAI_API_KEY"),
        ("tracing.exporters[0].api_key", "PH_KEY"),
    )
    assert cfg.model_providers[0].access_key == ""
    assert [(w.path, w.line, w.message) for w in cfg.warnings] == [
        (
            "model_providers[0].access_key",
            7,
            "environment variable OPENAI_API_KEY is not set; using an empty string (used 2 times)",
        ),
        (
            "tracing.exporters[0].api_key",
            10,
            "environment variable PH_KEY is not set; using an empty string",
        ),
    ]


def test_an_error_caused_by_an_unset_variable_says_so() -> None:
    from tests.unit.config.cases import one_error

    problem = one_error(BASE + "  - {model: ollama/llama3, base_url: $OLLAMA_URL}\n")
    assert problem.path == "model_providers[1].base_url"
    assert problem.message.endswith("(environment variable OLLAMA_URL is not set)")


def _write(directory: Path, config: str, dotenv: str | None) -> Path:
    path = directory / "plano_config.yaml"
    path.write_text(config)
    if dotenv is not None:
        (directory / ".env").write_text(dotenv)
    return path


def test_dotenv_next_to_the_config_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PLANO_TEST_KEY", raising=False)
    monkeypatch.delenv("PLANO_TEST_OTHER", raising=False)
    config = BASE.replace("sk-test", "$PLANO_TEST_KEY") + "system_prompt: $PLANO_TEST_OTHER\n"
    path = _write(tmp_path, config, "PLANO_TEST_KEY=from-dotenv\nPLANO_TEST_OTHER='quoted value'\n")
    cfg = load_config(path)
    assert cfg.model_providers[0].access_key == "from-dotenv"
    assert cfg.system_prompt == "quoted value"
    assert cfg.missing_env == ()


def test_process_env_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANO_TEST_KEY", "from-process")
    path = _write(
        tmp_path, BASE.replace("sk-test", "$PLANO_TEST_KEY"), "PLANO_TEST_KEY=from-dotenv\n"
    )
    assert load_config(path).model_providers[0].access_key == "from-process"


def test_explicit_env_replaces_process_env_and_dotenv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLANO_TEST_KEY", "from-process")
    path = _write(
        tmp_path, BASE.replace("sk-test", "$PLANO_TEST_KEY"), "PLANO_TEST_KEY=from-dotenv\n"
    )
    cfg = load_config(path, env={})
    assert cfg.model_providers[0].access_key == ""
    assert cfg.missing_env == (("model_providers[0].access_key", "PLANO_TEST_KEY"),)


def test_tracing_endpoint_falls_back_to_the_environment() -> None:
    cfg = load(
        BASE + "tracing: {random_sampling: 10}\n",
        env={"OTEL_TRACING_GRPC_ENDPOINT": "http://otel:4317"},
    )
    assert cfg.tracing is not None
    assert cfg.tracing.opentracing_grpc_endpoint == "http://otel:4317"
    cfg = load(BASE + "tracing: {random_sampling: 10}\n")
    assert cfg.tracing is not None
    assert cfg.tracing.opentracing_grpc_endpoint == "http://localhost:4317"
