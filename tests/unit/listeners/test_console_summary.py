"""The console's summaries (per model, per route, over a window) and its masked config."""

from __future__ import annotations

import json
from typing import Any

from plano.config import load_config_text
from plano.listeners.console_summary import masked_config, summary

NOW = 1_800_000_000.0


def entry(
    model: str, ms: float, status: int = 200, *, ago_s: float = 1, **kw: Any
) -> dict[str, Any]:
    return {
        "t": (NOW - ago_s) * 1000, "model": model, "ms": ms, "status": status, "pt": 10, "ct": 2,
        "routing": {"route": "alias", "outcome": None}, **kw,
    }  # fmt: skip


def test_summary_per_model_and_route_over_the_window() -> None:
    entries = [entry("a", float(ms)) for ms in range(1, 101)]
    entries += [entry("b", 5.0, 502, ttft=3.0, cost=0.5), entry("b", 7.0, ttft=1.0, cost=0.25)]
    entries.append(entry("a", 9999.0, ago_s=16 * 60))  # outside 15 minutes
    doc = summary(entries, 15, NOW)
    a, b = doc["models"]["a"], doc["models"]["b"]
    assert (a["requests"], a["p50_ms"], a["p95_ms"], a["error_rate"]) == (100, 51.0, 95.0, 0.0)
    assert a["p50_ttft_ms"] is None and a["spend_usd"] is None
    assert (b["requests"], b["error_rate"], b["spend_usd"]) == (2, 0.5, 0.75)
    assert (b["prompt_tokens"], b["completion_tokens"]) == (20, 4)
    assert doc["routes"]["alias/-"]["requests"] == 102
    assert summary(entries, 30, NOW)["models"]["a"]["requests"] == 101


def test_config_secrets_are_masked() -> None:
    config = load_config_text(
        """
version: v0.4.0
listeners:
  - {name: llm, type: model, port: 12000}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-secret-one
    base_url: https://user:hunter2@llm.example.com/v1
    default: true
access:
  keys: {enabled: true, store: file, path: keys.json, admin_token: admin-token-secret-0123}
""",
        source="t.yaml",
        env={},
    )
    doc = masked_config(config)
    text = json.dumps(doc)
    for secret in ("sk-secret-one", "hunter2", "admin-token-secret-0123"):
        assert secret not in text
    provider = doc["model_providers"][0]
    assert provider["access_key"] == "***"
    assert provider["base_url"] == "https://***@llm.example.com/v1"
    assert provider["model"] == "openai/gpt-4o"  # not a secret
    assert doc["listeners"][0]["port"] == 12000
