"""What `build_resilience` compiles from a config, once, at load."""

from __future__ import annotations

from plano.config import load_config_text
from plano.providers.catalogue import Api
from plano.routing.resolve import ModelTable
from plano.upstream.clusters import build_clusters
from plano.upstream.policies import build_resilience


def build(text: str) -> object:
    cfg = load_config_text(text, env={})
    clusters = build_clusters(cfg)
    models = ModelTable(clusters, {n: a.target for n, a in cfg.model_aliases.items()})
    return build_resilience(cfg, cfg.model_listener, clusters, models.resolve)


HEAD = "version: v0.4.0\nlisteners:\n  - {name: llm, type: model%s}\nmodel_providers:\n"


def test_nothing_configured_means_no_policy() -> None:
    res: object = build(HEAD % "" + "  - {model: openai/gpt-4o, access_key: k}\n")
    assert res.policies == {}  # type: ignore[attr-defined]
    assert res.gate is None and res.limiter is None  # type: ignore[attr-defined]


def test_listener_max_retries_covers_every_provider() -> None:
    res: object = build(
        HEAD % ", max_retries: 2"
        + "  - {model: openai/gpt-4o, access_key: k}\n"
        + "  - {model: openai/gpt-4o-mini, access_key: k}\n"
    )
    policies = res.policies  # type: ignore[attr-defined]
    assert {"openai/gpt-4o", "openai/gpt-4o-mini"} <= set(policies)
    assert policies["openai/gpt-4o"].retry.num_retries == 2


def test_endpoints_timeouts_and_fallbacks() -> None:
    res: object = build(
        HEAD % ", timeouts: {first_byte: 10s, idle: 2s}"
        + """  - model: openai/gpt-4o
    access_key: k0
    base_url: http://a.example:1/v1
    endpoints: [{access_key: k1}, {base_url: "http://b.example:2/v1", weight: 3}]
    timeouts: {first_byte: 3s}
    fallbacks: [small]
  - {model: openai/gpt-4o-mini, access_key: k}
model_aliases:
  small: {target: gpt-4o-mini}
"""
    )
    p = res.policies["openai/gpt-4o"]  # type: ignore[attr-defined]
    urls = [c.url(Api.OPENAI_CHAT, "gpt-4o", False) for c in p.endpoints]
    assert urls == [
        "http://a.example:1/v1/chat/completions",
        "http://b.example:2/v1/chat/completions",
    ]
    assert [c.access_key for c in p.endpoints] == ["k1", "k0"]
    assert p.balancer is not None and p.balancer.weights == (1, 3)
    assert (p.first_byte, p.guard.idle) == (3.0, 2.0)  # provider wins key by key
    assert [f.name for f in p.fallbacks] == ["openai/gpt-4o-mini"]
