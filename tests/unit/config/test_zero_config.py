"""Zero-config: wildcard providers for common vendors, keyed from the environment when possible."""

from __future__ import annotations

import yaml

from plano.config import load_config_text, render_zero_config_yaml, synthesize_zero_config
from plano.config.zero_config import ZERO_CONFIG_KEYS
from plano.providers import catalogue

VENDORS = [
    "openai",
    "anthropic",
    "gemini",
    "groq",
    "deepseek",
    "mistral",
    "digitalocean",
    "vercel",
    "openrouter",
    "edenai",
]


def test_every_vendor_is_a_wildcard_with_its_default_base_url() -> None:
    cfg = synthesize_zero_config({})
    assert [p.provider for p in cfg.visible_providers] == VENDORS
    for p in cfg.visible_providers:
        row = catalogue.BY_PREFIX[p.provider]
        assert (p.name, p.model, p.wildcard) == (p.provider, f"{p.provider}/*", True)
        assert p.base_url == f"{row.base_url}{row.path_prefix}"
        assert (p.passthrough_auth, p.access_key) == (True, None)
    assert cfg.default_provider is None  # requests must name a model
    assert [(lc.name, lc.type, lc.port) for lc in cfg.listeners] == [("llm", "model", 12000)]
    assert cfg.tracing is not None
    assert (cfg.tracing.random_sampling, cfg.tracing.opentracing_grpc_endpoint) == (
        100,
        "http://localhost:4317",
    )
    assert cfg.warnings == () and cfg.missing_env == ()


def test_keys_come_from_the_environment() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant", "DO_API_KEY": "do-key", "OPENAI_API_KEY": ""}
    cfg = synthesize_zero_config(env, port=12345)
    keyed = [(p.provider, p.access_key, p.passthrough_auth) for p in cfg.visible_providers[:2]]
    assert keyed == [("anthropic", "sk-ant", False), ("digitalocean", "do-key", False)]
    assert all(p.passthrough_auth for p in cfg.visible_providers[2:])
    assert cfg.model_listener.port == 12345


def test_rendered_yaml_holds_references_not_secrets() -> None:
    text = render_zero_config_yaml({"OPENAI_API_KEY": "sk-secret"}, port=0)
    assert "sk-secret" not in text
    data = yaml.safe_load(text)
    assert data["model_providers"][0] == {
        "name": "openai",
        "model": "openai/*",
        "base_url": "https://api.openai.com/v1",
        "access_key": "$OPENAI_API_KEY",
    }
    assert data["listeners"][0]["port"] == 0
    cfg = load_config_text(text, env={"OPENAI_API_KEY": "sk-secret"})
    assert cfg.visible_providers[0].access_key == "sk-secret"


def test_key_names() -> None:
    assert sorted(ZERO_CONFIG_KEYS) == sorted(VENDORS)
    assert ZERO_CONFIG_KEYS["vercel"] == "AI_GATEWAY_API_KEY"


def test_binds_loopback_unless_told_otherwise() -> None:
    (listener,) = synthesize_zero_config({}).listeners
    assert (listener.address, listener.port) == ("127.0.0.1", 12000)
    text = render_zero_config_yaml({}, port=12001, address="0.0.0.0")
    (opened,) = load_config_text(text, source="zero", env={}).listeners
    assert (opened.address, opened.port) == ("0.0.0.0", 12001)
