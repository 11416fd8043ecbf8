"""The exchange engine with an injected sleeper: the waits it chooses (backoff, Retry-After, the
request's deadline), against the mock upstream over real HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from plano.config import load_config_text
from plano.listeners.model.build import Builder
from plano.listeners.model.call import ModelCall
from plano.listeners.types import RequestIds
from plano.observability.record import RequestRecord
from plano.providers.catalogue import Api
from plano.routing.resolve import ModelTable
from plano.upstream.clusters import build_clusters
from plano.upstream.exchange import Exchange
from plano.upstream.lean import LeanTransport
from plano.upstream.policies import build_resilience
from plano.upstream.request import Committed

pytestmark = pytest.mark.integration


def setup(upstream: Any, retry: str, timeout: str = "20s") -> tuple[Exchange, Builder, list[float]]:
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
    builder = Builder(models, RequestIds())
    res = build_resilience(config, config.model_listener, clusters, models.resolve)
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    exchange = Exchange(
        LeanTransport(),
        res.policies,
        res.alias_fallbacks,
        deadline=config.model_listener.timeout,
        connect_timeout=5.0,
        rebuild=builder.rebuild,
        sleep=sleep,
        rand=lambda: 1.0,
    )
    return exchange, builder, slept


def call(exchange: Exchange, builder: Builder) -> tuple[int, int]:
    async def main() -> tuple[int, int]:
        transport = exchange._transport
        await transport.start()
        try:
            scope = {
                "headers": [],
                "path": "/v1/chat/completions",
                "plano.record": RequestRecord("llm", "model", "POST", "/v1/chat/completions"),
            }

            async def receive() -> Any:
                raise AssertionError

            async def send(message: Any) -> None:
                raise AssertionError

            c = ModelCall(scope, receive, send, Api.OPENAI_CHAT, RequestIds())
            c.body = orjson.dumps(
                {"model": "gpt-4o", "messages": [{"role": "user", "content": "x"}]}
            )
            c.doc = orjson.loads(c.body)
            c.requested = "gpt-4o"
            up = builder.first(c)
            got = await exchange.commit(up, c.record, "gpt-4o")
            assert isinstance(got, Committed)
            try:
                await got.resp.read()
                return got.resp.status, c.record.attempts
            finally:
                got.release()
        finally:
            await transport.close()

    return asyncio.run(main())


def test_backoff_doubles_between_retries(upstream: Any) -> None:
    upstream.script({"status": 503, "times": 2})
    exchange, builder, slept = setup(
        upstream, "{num_retries: 3, base_interval: 500ms, max_interval: 5s}"
    )
    assert call(exchange, builder) == (200, 3)
    assert slept == [0.5, 1.0]


def test_retry_after_is_honoured(upstream: Any) -> None:
    upstream.script({"status": 429, "retry_after": "3"})
    exchange, builder, slept = setup(upstream, "{num_retries: 1, base_interval: 10ms}")
    assert call(exchange, builder) == (200, 2)
    assert slept == [3.0]


def test_retry_after_is_capped_without_a_fallback(upstream: Any) -> None:
    upstream.script({"status": 429, "retry_after": "120"})
    exchange, builder, slept = setup(
        upstream, "{num_retries: 1, base_interval: 10ms, max_retry_after: 2s}"
    )
    assert call(exchange, builder) == (200, 2)
    assert slept == [2.0]


def test_no_wait_beyond_the_deadline(upstream: Any) -> None:
    upstream.script({"status": 429, "retry_after": "5", "times": 0})
    exchange, builder, slept = setup(upstream, "{num_retries: 2}", timeout="2s")
    assert call(exchange, builder) == (429, 1)  # the upstream's own 429 is relayed
    assert slept == []
