"""Resilience keys: defaults, durations, and the cross-checks on fallbacks and limits."""

from __future__ import annotations

from tests.unit.config.cases import errors, load

HEAD = """version: v0.4.0
listeners:
  - {name: llm, type: model, max_retries: 2, timeouts: {first_byte: 30s, idle: 500ms}}
model_providers:
  - model: openai/gpt-4o
    access_key: k
"""


def test_defaults_and_durations() -> None:
    cfg = load(
        HEAD
        + """    retry_policy: {num_retries: 3, base_interval: 100ms}
    fallbacks: [gpt-4o-mini]
    endpoints: [{access_key: k2, weight: 3}, {}]
    outlier_detection: {}
    circuit_breakers: {max_requests: 10}
  - model: openai/gpt-4o-mini
    access_key: k
"""
    )
    listener = cfg.model_listener
    assert listener.timeouts is not None and listener.timeouts.idle == 0.5
    p = cfg.model_providers[0]
    assert p.retry_policy is not None
    assert (p.retry_policy.num_retries, p.retry_policy.base_interval) == (3, 0.1)
    assert p.retry_policy.max_interval == 5.0
    assert p.fallbacks == ("gpt-4o-mini",)
    assert p.fallback_on == ("context_window", "rate_limited", "unavailable")
    assert [e.weight for e in p.endpoints] == [3, 1]
    assert p.outlier_detection is not None and p.outlier_detection.consecutive_failures == 5
    assert p.load_balancing == "round_robin"
    assert cfg.ratelimit_backend.type == "memory"
    assert cfg.ratelimit_backend.on_backend_error == "allow"


def test_unknown_fallback_is_an_error() -> None:
    problems = errors(HEAD + "    fallbacks: [gpt-5-nope]\n")
    assert any("fallback 'gpt-5-nope' is not a declared model" in p.message for p in problems)
    assert any(p.path.endswith("fallbacks[0]") for p in problems)


def test_a_model_is_not_its_own_fallback() -> None:
    problems = errors(HEAD + "    fallbacks: [openai/gpt-4o]\n")
    assert any("its own fallback" in p.message for p in problems)


def test_alias_fallbacks_are_checked() -> None:
    text = HEAD + "model_aliases:\n  smart: {target: gpt-4o, fallbacks: [nope]}\n"
    assert any("fallback 'nope'" in p.message for p in errors(text))


def test_limit_needs_tokens_or_requests() -> None:
    base = HEAD + "ratelimits:\n  - model: gpt-4o\n    selector: {key: x, value: y}\n"
    assert errors(base + "    limit: {unit: hour}\n")
    assert errors(base + "    limit: {tokens: 1, requests: 1, unit: hour}\n")
    cfg = load(base + "    limit: {requests: 5, unit: minute}\n")
    assert cfg.ratelimits[0].limit.requests == 5


def test_bad_intervals_and_unknown_keys() -> None:
    assert errors(HEAD + "    retry_policy: {base_interval: 2s, max_interval: 1s}\n")
    assert errors(HEAD + "    retry_policy: {retry_on: [sometimes]}\n")
    assert errors(HEAD + "    load_balancing: fastest\n")
    assert errors(HEAD + "ratelimit_backend: {type: memcached}\n")
