"""Model providers: prefix rules from the catalogue, uniqueness, defaults, vendor wiring."""

from __future__ import annotations

import uuid

import pytest

from plano.config import ModelProviderConfig, Problem
from plano.providers import catalogue
from tests.unit.config.cases import assert_problem, errors, find, load, one_error

HEAD = "version: v0.4.0\nlisteners: [{name: llm, type: model}]\nmodel_providers:\n"


def providers(*lines: str, env: dict[str, str] | None = None) -> tuple[ModelProviderConfig, ...]:
    return load(HEAD + "".join(f"  - {line}\n" for line in lines), env).visible_providers


def provider_errors(*lines: str) -> tuple[Problem, ...]:
    return errors(HEAD + "".join(f"  - {line}\n" for line in lines))


def test_model_is_split_at_the_first_slash() -> None:
    got = providers(
        "{model: openai/gpt-4o, access_key: k, default: true}",
        "{model: Google/gemini-2.0-flash}",
        "{model: together_ai/openai/gpt-oss-20b}",
        "{model: anthropic/*}",
    )
    assert [(p.name, p.model, p.provider, p.model_id, p.wildcard) for p in got] == [
        ("openai/gpt-4o", "openai/gpt-4o", "openai", "gpt-4o", False),
        ("Google/gemini-2.0-flash", "Google/gemini-2.0-flash", "gemini", "gemini-2.0-flash", False),
        (
            "together_ai/openai/gpt-oss-20b",
            "together_ai/openai/gpt-oss-20b",
            "together_ai",
            "openai/gpt-oss-20b",
            False,
        ),
        ("anthropic/*", "anthropic/*", "anthropic", "*", True),
    ]
    assert got[0].default and got[0].access_key == "k"
    assert got[1].interface_prefix == "gemini"
    assert got[1].row is catalogue.BY_PREFIX["gemini"]


def test_explicit_name_is_kept() -> None:
    (p,) = providers("{name: main, model: openai/gpt-4o}")
    assert p.name == "main"


def test_model_needs_a_provider_prefix() -> None:
    (problem,) = provider_errors("{model: gpt-4o}")
    assert_problem(problem, "model_providers[0].model", 4, "'<provider>/<model_id>'")
    assert "'<provider>/*'" in problem.message


@pytest.mark.parametrize("model", ["openai/", "/gpt-4o", "openai/gpt-*"])
def test_malformed_models(model: str) -> None:
    (problem,) = provider_errors(f"{{model: '{model}'}}")
    assert problem.path == "model_providers[0].model"


def test_base_url_required_by_the_catalogue() -> None:
    needs = sorted(
        row.prefix for row in catalogue.ROWS if row.requires_base_url and row.config_prefix
    )
    assert "ollama" in needs
    found = provider_errors(*(f"{{model: {prefix}/m{i}}}" for i, prefix in enumerate(needs)))
    assert [(p.path, p.line, p.message) for p in found] == [
        (f"model_providers[{i}].base_url", 4 + i, f"base_url is required for provider '{prefix}'")
        for i, prefix in enumerate(needs)
    ]


def test_credentials_in_urls_are_not_repeated() -> None:
    (problem,) = provider_errors("{model: ollama/a, base_url: 'ftp://user:s3cret@host/x'}")
    assert "s3cret" not in str(problem)
    assert "'ftp://***@host/x'" in problem.message


def test_base_url_must_be_http_with_a_host() -> None:
    found = provider_errors(
        "{model: ollama/a, base_url: 'localhost:11434'}",
        "{model: ollama/b, base_url: 'http://'}",
        "{model: ollama/c, base_url: 'ftp://host'}",
        "{model: ollama/d, base_url: 'http://host:notaport'}",
    )
    assert [p.path for p in found] == [f"model_providers[{i}].base_url" for i in range(4)]
    (ok,) = providers("{model: ollama/x, base_url: 'http://localhost:11434/v1'}")
    assert ok.base_url == "http://localhost:11434/v1"


def test_custom_prefix_needs_base_url_and_interface() -> None:
    found = provider_errors(
        "{model: acme/m1}", "{model: acme/m2, base_url: 'http://x', provider_interface: klingon}"
    )
    assert [(p.path, p.line) for p in found] == [
        ("model_providers[0].base_url", 4),
        ("model_providers[0].provider_interface", 4),
        ("model_providers[1].provider_interface", 5),
    ]
    assert "'acme' is not a built-in provider" in found[0].message
    assert "provider_interface 'klingon' is not known" in found[2].message
    (p,) = providers("{model: acme/*, base_url: 'http://x', provider_interface: groq}")
    assert (p.provider, p.provider_interface, p.interface_prefix, p.wildcard) == (
        "acme",
        "groq",
        "groq",
        True,
    )


def test_known_prefix_must_not_set_an_interface() -> None:
    problem = one_error(HEAD + "  - {model: openai/gpt-4o, provider_interface: openai}\n")
    assert_problem(
        problem, "model_providers[0].provider_interface", 4, "'openai' is a built-in provider"
    )


def test_perplexity_is_served_by_its_own_row_through_an_interface() -> None:
    (p,) = providers(
        "{model: perplexity/sonar, base_url: 'https://api.perplexity.ai',"
        " provider_interface: openai}"
    )
    assert p.interface_prefix == "openai"
    assert p.row is catalogue.BY_PREFIX["perplexity"]


def test_duplicates() -> None:
    found = provider_errors(
        "{model: openai/gpt-4o}",
        "{model: openai/gpt-4o, name: other}",
        "{model: azure_openai/gpt-4o, base_url: 'https://x'}",
        "{model: openai/gpt-4o-mini, name: openai/gpt-4o}",
        "{model: openai/*}",
        "{model: openai/*, name: all-openai-2}",
    )
    assert [(p.path, p.line) for p in found] == [
        ("model_providers[1].model", 5),
        ("model_providers[2].model", 6),
        ("model_providers[3].name", 7),
    ]
    assert "already declared by provider 'openai/gpt-4o'" in found[0].message
    assert "model id 'gpt-4o' is already declared" in found[1].message
    assert found[2].message == "provider name 'openai/gpt-4o' is used twice"


def test_defaults() -> None:
    found = provider_errors(
        "{model: openai/*, default: true}",
        "{model: openai/gpt-4o, default: true}",
        "{model: openai/gpt-4o-mini, default: true}",
    )
    assert [(p.path, p.line) for p in found] == [
        ("model_providers[0].default", 4),
        ("model_providers[2].default", 6),
    ]
    assert "wildcard" in found[0].message
    assert "only one provider can be the default; 'openai/gpt-4o' is" in found[1].message


def test_passthrough_with_access_key_warns() -> None:
    cfg = load(HEAD + "  - {model: openai/gpt-4o, access_key: k, passthrough_auth: true}\n")
    (warning,) = cfg.warnings
    assert_problem(warning, "model_providers[0].access_key", 4, "access_key is ignored")


def test_llm_providers_is_renamed() -> None:
    cfg = load("version: v0.4.0\nlisteners: []\nllm_providers:\n  - {model: openai/gpt-4o}\n")
    assert [p.model for p in cfg.visible_providers] == ["openai/gpt-4o"]
    assert "deprecated" in cfg.warnings[0].message
    problem = one_error("version: v0.4.0\nlisteners: []\nllm_providers:\n  - {model: ollama/x}\n")
    assert_problem(problem, "llm_providers[0].base_url", 4, "base_url is required")


def test_llm_providers_and_model_providers_together() -> None:
    found = errors(HEAD + "  - {model: openai/gpt-4o}\nllm_providers: []\n")
    assert_problem(find(found, "llm_providers"), "llm_providers", 5, "not both")


def test_provider_key_supplies_a_missing_prefix() -> None:
    (p,) = providers("{model: gpt-4o, provider: openai}")
    assert (p.name, p.model, p.provider, p.model_id) == (
        "openai/gpt-4o",
        "openai/gpt-4o",
        "openai",
        "gpt-4o",
    )
    (p,) = providers("{model: openai/gpt-4o, provider: OpenAI}")
    assert p.provider == "openai"


def test_provider_key_is_the_interface_of_a_custom_prefix() -> None:
    (p,) = providers("{model: acme/m, provider: openai, base_url: 'http://x'}")
    assert (p.provider, p.provider_interface) == ("acme", "openai")
    problem = one_error(
        HEAD
        + "  - {model: acme/m, provider: openai, provider_interface: groq, base_url: 'http://x'}\n"
    )
    assert_problem(problem, "model_providers[0].provider", 4, "not both")
    problem = one_error(HEAD + "  - {model: openai/gpt-4o, provider: anthropic}\n")
    assert_problem(problem, "model_providers[0].provider", 4, "does not match the prefix 'openai'")
    problem = one_error(HEAD + "  - {model: acme/m, provider: klingon, base_url: 'http://x'}\n")
    assert_problem(
        problem, "model_providers[0].provider", 4, "provider_interface 'klingon' is not known"
    )


def test_derived_keys_cannot_be_written() -> None:
    problem = one_error(HEAD + "  - {model: openai/gpt-4o, model_id: x}\n")
    assert_problem(problem, "model_providers[0].model_id", 4, "unknown key 'model_id'")


def test_chatgpt_wiring() -> None:
    (p,) = providers("{model: chatgpt/gpt-5-codex}", env={"CHATGPT_ACCOUNT_ID": "acct-1"})
    assert p.base_url == "https://chatgpt.com/backend-api/codex"
    assert p.passthrough_auth is True
    headers = dict(p.headers)
    session = headers.pop("session_id")
    assert uuid.UUID(session).version == 4
    assert headers == {
        "ChatGPT-Account-Id": "acct-1",
        "originator": "codex_cli_rs",
        "user-agent": "codex_cli_rs/0.0.0 (Unknown 0; unknown) unknown",
    }


def test_chatgpt_wiring_keeps_what_the_user_set() -> None:
    cfg = load(
        HEAD
        + "  - model: chatgpt/gpt-5\n    access_key: tok\n    base_url: 'https://proxy/codex'\n"
        + "    headers: {Originator: mine, chatgpt-account-id: given}\n"
    )
    (p,) = cfg.visible_providers
    assert (p.base_url, p.passthrough_auth, p.access_key) == ("https://proxy/codex", False, "tok")
    headers = dict(p.headers)
    assert headers["Originator"] == "mine" and "originator" not in headers
    assert headers["chatgpt-account-id"] == "given"
    assert cfg.warnings == ()


def test_chatgpt_without_account_id_warns() -> None:
    cfg = load(HEAD + "  - {model: chatgpt/gpt-5}\n")
    assert "ChatGPT-Account-Id" not in cfg.visible_providers[0].headers
    assert_problem(cfg.warnings[0], "model_providers[0]", 4, "CHATGPT_ACCOUNT_ID is not set")


@pytest.mark.parametrize(
    ("line", "base_url"),
    [
        (
            "{model: moonshotai/kimi-for-coding, base_url: 'https://api.kimi.com/coding'}",
            "https://api.kimi.com/coding/v1",
        ),
        (
            "{model: moonshotai/kimi-for-coding, base_url: 'https://api.kimi.com/coding/'}",
            "https://api.kimi.com/coding/v1",
        ),
        (
            "{model: moonshotai/kimi-k2, base_url: 'https://api.kimi.com/coding/v1'}",
            "https://api.kimi.com/coding/v1",
        ),
        (
            "{model: moonshotai/kimi-for-coding, base_url: 'https://gw.example/coding'}",
            "https://gw.example/coding/v1",
        ),
    ],
)
def test_kimi_code_wiring(line: str, base_url: str) -> None:
    (p,) = providers(line)
    assert p.base_url == base_url
    assert dict(p.headers) == {"User-Agent": "KimiCLI/1.3"}


def test_kimi_wiring_leaves_others_alone() -> None:
    (p,) = providers("{model: moonshotai/kimi-k2, base_url: 'https://api.moonshot.ai/coding'}")
    assert (p.base_url, dict(p.headers)) == ("https://api.moonshot.ai/coding", {})
    (p,) = providers(
        "{model: moonshotai/kimi-for-coding, headers: {user-agent: mine}, base_url: 'https://api.kimi.com/coding/v1'}"
    )
    assert dict(p.headers) == {"user-agent": "mine"}


def test_internal_providers_are_added() -> None:
    cfg = load(
        HEAD
        + "  - {model: openai/gpt-4o}\n"
        + "routing_preferences: [{name: code, description: d, models: [openai/gpt-4o]}]\n"
        + "overrides: {llm_routing_model: plano/Router-X}\n"
    )
    internal = [
        (p.name, p.model, p.provider, p.model_id) for p in cfg.model_providers if p.internal
    ]
    assert internal == [
        ("plano-orchestrator", "plano/Router-X", "plano", "Router-X"),
        ("arch-function", "plano/Arch-Function", "plano", "Arch-Function"),
        ("plano/orchestrator", "plano/Plano-Orchestrator", "plano", "Plano-Orchestrator"),
    ]
    assert all(p.base_url is None for p in cfg.model_providers if p.internal)


def test_declared_orchestrator_is_not_duplicated() -> None:
    cfg = load(
        HEAD
        + "  - {model: plano/Plano-Orchestrator, base_url: 'http://vllm:8000'}\n"
        + "routing_preferences: [{name: c, description: d, models: [plano/Plano-Orchestrator]}]\n"
    )
    assert [p.name for p in cfg.model_providers if p.internal] == ["arch-function"]


def test_misspelt_builtin_prefix_suggests_the_right_one() -> None:
    found = provider_errors(
        "{model: opeanai/gpt-4o}",
        "{model: antropic/claude-sonnet-4-5}",
        "{model: opeanai/m, base_url: 'http://x', provider_interface: openai}",  # meant: its own
    )
    assert [(p.path, p.line) for p in found] == [
        ("model_providers[0].model", 4),
        ("model_providers[1].model", 5),
    ]
    assert "did you mean 'openai'?" in found[0].message
    assert "did you mean 'anthropic'?" in found[1].message
