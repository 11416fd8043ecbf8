"""The attempt loop with an injected sleeper: the waits it chooses (backoff, Retry-After, the
request's deadline), against the mock upstream over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from plano.config import load_config_text
from plano.listeners.model.listener import ModelListener
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from plano.providers.catalogue import Api
from plano.routing.resolve import ModelTable
from plano.upstream.attempts import Attempts
from plano.upstream.client import UpstreamClient
from plano.upstream.clusters import build_clusters
from plano.upstream.policies import build_resilience

pytestmark = pytest.mark.integration


def setup(upstream: Any, retry: str, timeout: str = "20s") -> tuple[Any, Any, Any, list[float]]:
    config = load_config_text(
        f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: {timeout}}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-a
    base_url: {upstream.base_url}
    default: true
    retry_policy: {retry}
""",
        env={},
    )
    clusters = build_clusters(config)
    models = ModelTable(clusters, {})
    client = UpstreamClient()
    listener = ModelListener(
        models,
        client,
        timeout=config.model_listener.timeout,
        connect_timeout=5.0,
        max_body_bytes=1 << 20,
        models_body=b"{}",
        telemetry=Telemetry(),
    )
    res = build_resilience(config, config.model_listener, clusters, models.resolve)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    attempts = Attempts(
        res.policies,
        res.alias_fallbacks,
        client,
        deadline=config.model_listener.timeout,
        rebuild=listener._rebuild,
        sleep=sleep,
        rand=lambda: 1.0,
    )
    return listener, attempts, client, slept


def call(listener: Any, attempts: Any, client: Any) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        await client.start()
        try:
            record = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
            body = orjson.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]})
            scope = {"headers": [], "path": "/v1/chat/completions"}
            up = listener._prepare(scope, body, Api.OPENAI_CHAT, record, None)
            async with attempts.open(up, record, "gpt-4o") as (resp, _, _):
                await resp.read()
                return resp.status, record.attempts
        finally:
            await client.close()

    return asyncio.run(main())


def test_backoff_doubles_between_retries(upstream: Any) -> None:
    upstream.script({"status": 503, "times": 2})
    listener, attempts, client, slept = setup(
        upstream, "{num_retries: 3, base_interval: 500ms, max_interval: 5s}"
    )
    assert call(listener, attempts, client) == (200, 3)
    assert slept == [0.5, 1.0]


def test_retry_after_is_honoured(upstream: Any) -> None:
    upstream.script({"status": 429, "retry_after": "3"})
    listener, attempts, client, slept = setup(upstream, "{num_retries: 1, base_interval: 10ms}")
    assert call(listener, attempts, client) == (200, 2)
    assert slept == [3.0]


def test_retry_after_is_capped_without_a_fallback(upstream: Any) -> None:
    upstream.script({"status": 429, "retry_after": "120"})
    listener, attempts, client, slept = setup(
        upstream, "{num_retries: 1, base_interval: 10ms, max_retry_after: 2s}"
    )
    assert call(listener, attempts, client) == (200, 2)
    assert slept == [2.0]


def test_no_wait_beyond_the_deadline(upstream: Any) -> None:
    upstream.script({"status": 429, "retry_after": "5", "times": 0})
    listener, attempts, client, slept = setup(upstream, "{num_retries: 2}", timeout="2s")
    assert call(listener, attempts, client) == (429, 1)  # the upstream's own 429 is relayed
    assert slept == []
