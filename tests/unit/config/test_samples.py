"""Every sample config of the original project loads unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from plano.config import Config, load_config
from plano.config.env import references

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO.parent / "shared" / "reference" / "plano-configs"
SAMPLE_FILES = (
    sorted(p for p in SAMPLES.glob("*.yaml") if p.name != "plano_config_schema.yaml")
    if SAMPLES.is_dir()
    else []
)

pytestmark = pytest.mark.skipif(
    not SAMPLE_FILES, reason=f"reference sample configs not found at {SAMPLES}"
)


def _strings(node: Any) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for value in node.values() for s in _strings(value)]
    if isinstance(node, list):
        return [s for value in node for s in _strings(value)]
    return []


def _vars(path: Path) -> set[str]:
    """Variables referenced by string values (comments excluded)."""
    data = yaml.safe_load(path.read_text())
    return {name for value in _strings(data) for name in references(value)}


def _without_env_effects(cfg: Config) -> dict[str, object]:
    return cfg.model_dump(exclude={"missing_env", "warnings"})


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_loads_with_every_variable_set(path: Path) -> None:
    env = {name: f"value-of-{name}" for name in _vars(path)}
    cfg = load_config(path, env=env)
    assert cfg.missing_env == ()
    assert cfg.version == "v0.4.0"
    assert sum(1 for lc in cfg.listeners if lc.type == "model") == 1
    assert not any("environment variable" in w.message for w in cfg.warnings)


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: p.name)
def test_sample_with_empty_env_differs_only_in_missing_env(path: Path) -> None:
    names = _vars(path)
    unset = load_config(path, env={})
    empty = load_config(path, env=dict.fromkeys(names, ""))
    assert _without_env_effects(unset) == _without_env_effects(empty)
    assert {var for _, var in unset.missing_env} == names
    assert empty.missing_env == ()
    assert len(unset.warnings) - len(empty.warnings) == len(names)


def _sample(name: str) -> Config:
    path = SAMPLES / name
    return load_config(path, env={v: "k" for v in _vars(path)})


def test_legacy_listener_object_becomes_a_list() -> None:
    cfg = _sample("plano_config.yaml")
    assert cfg.declared_version == "v0.2.0"
    kinds = {lc.name: (lc.type, lc.port, lc.timeout) for lc in cfg.listeners}
    assert kinds == {
        "ingress_traffic": ("prompt", 10000, 300.0),
        "egress_traffic": ("model", 12000, 300.0),
    }


def test_inline_preferences_are_lifted_from_a_v030_sample() -> None:
    cfg = _sample("llm_routing_preference_based_routing_config.yaml")
    prefs = {p.name: p.models for p in cfg.routing_preferences}
    assert prefs == {
        "code understanding": ("openai/gpt-4o",),
        "code generation": ("anthropic/claude-sonnet-4-6",),
    }
    internal = [p.name for p in cfg.model_providers if p.internal]
    assert internal == ["plano-orchestrator", "arch-function", "plano/orchestrator"]


def test_filter_chain_sample_uses_input_filters() -> None:
    cfg = _sample("template_filter_chain_guardrails.yaml")
    agent = cfg.listeners[0].agents[0]
    assert agent.input_filters == ("input_guards", "query_rewriter", "context_builder")


def test_full_reference_sample_resolves_provider_details() -> None:
    cfg = _sample("plano_config_full_reference.yaml")
    kimi = next(p for p in cfg.model_providers if p.model_id == "kimi-for-coding")
    assert kimi.base_url == "https://api.kimi.com/coding/v1"
    assert dict(kimi.headers) == {"User-Agent": "KimiCLI/1.3"}
    assert cfg.model_listener.timeout == 30.0
    assert cfg.endpoints["app_server"].connect_timeout == 0.005
    assert cfg.overrides.upstream_connect_timeout == 10.0
    assert [s.type for s in cfg.model_metrics_sources] == ["cost", "latency"]
    # The sample's agent listener names an agent missing from `agents`: loads, with a warning.
    assert any("rag_agent" in w.message for w in cfg.warnings)


def test_together_model_id_keeps_its_slash() -> None:
    cfg = _sample("getting_started_llm_gateway_config.yaml")
    together = next(p for p in cfg.model_providers if p.provider == "together_ai")
    assert (together.model, together.model_id) == (
        "together_ai/openai/gpt-oss-20b",
        "openai/gpt-oss-20b",
    )
    custom = next(p for p in cfg.model_providers if p.provider == "custom")
    assert (custom.provider_interface, custom.interface_prefix) == ("openai", "openai")
