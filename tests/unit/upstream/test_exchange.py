"""The exchange engine against `MockTransport` (no sockets): which attempts it makes, what it
commits to, what it releases, and the waits it chooses (an injected sleeper)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from plano.config import load_config_text
from plano.errors import (
    PlanoError,
    UpstreamBodyBroken,
    UpstreamConnectFailed,
    UpstreamReset,
)
from plano.listeners.model.build import Builder
from plano.listeners.model.call import ModelCall
from plano.listeners.types import RequestIds
from plano.observability.record import RequestRecord
from plano.providers.catalogue import Api
from plano.routing.resolve import ModelTable
from plano.upstream.clusters import build_clusters
from plano.upstream.exchange import Exchange
from plano.upstream.mock_transport import MockReply, MockRequest, MockTransport
from plano.upstream.policies import build_resilience
from plano.upstream.request import Committed

OK = orjson.dumps({"id": "c", "choices": [{"message": {"content": "hi"}}]})
JSON = (("content-type", "application/json"),)


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, str]] = []

    def retry(self, provider: str, model: str) -> None:
        self.seen.append(("retry", provider, model))

    def ejection(self, provider: str, model: str) -> None:
        self.seen.append(("ejection", provider, model))

    def failover(self, provider: str, model: str) -> None:
        self.seen.append(("failover", provider, model))

    def breaker_rejected(self, provider: str, model: str) -> None:
        self.seen.append(("breaker_rejected", provider, model))

    def first_token_timeout(self, provider: str, model: str) -> None:
        self.seen.append(("first_token_timeout", provider, model))

    def health_skipped(self, provider: str, model: str) -> None:
        self.seen.append(("health_skipped", provider, model))

    def circuit(self, provider: str, state: str) -> None:
        self.seen.append(("circuit", provider, state))

    def reset(self, provider: str, model: str) -> None:
        self.seen.append(("reset", provider, model))


def config(primary: str = "", *, fallback: bool = False, timeout: str = "20s") -> Any:
    second = (
        """
  - model: anthropic/claude-sonnet-4
    access_key: sk-b
    base_url: http://b.test"""
        if fallback
        else ""
    )
    return load_config_text(
        f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: {timeout}}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-a
    base_url: http://a.test
    default: true
{primary}{second}
""",
        env={},
    )


class Rig:
    """An exchange over a scripted transport, the builder it rebuilds with, and what it did."""

    def __init__(self, cfg: Any, replies: list[MockReply | PlanoError]) -> None:
        self._replies = replies
        self.transport = MockTransport(self._answer)
        clusters = build_clusters(cfg)
        models = ModelTable(clusters, {})
        self.builder = Builder(models, RequestIds())
        self.events = Events()
        self.slept: list[float] = []
        res = build_resilience(cfg, cfg.model_listener, clusters, models.resolve, self.events)

        async def sleep(seconds: float) -> None:
            self.slept.append(seconds)

        self.exchange = Exchange(
            self.transport,
            res.policies,
            res.alias_fallbacks,
            deadline=cfg.model_listener.timeout,
            connect_timeout=5.0,
            rebuild=self.builder.rebuild,
            events=self.events,
            sleep=sleep,
            rand=lambda: 1.0,
        )
        self.record = RequestRecord("llm", "model", "POST", "/v1/chat/completions")

    async def _answer(self, request: MockRequest) -> MockReply:
        reply = self._replies.pop(0) if len(self._replies) > 1 else self._replies[0]
        if isinstance(reply, PlanoError):
            raise reply
        return reply

    def commit_stream(self, model: str = "gpt-4o") -> tuple[int, bytes] | PlanoError:
        return self.commit(model, stream=True)

    def commit(
        self, model: str = "gpt-4o", *, stream: bool = False
    ) -> tuple[int, bytes] | PlanoError:
        async def main() -> tuple[int, bytes] | PlanoError:
            scope = {"headers": [], "path": "/v1/chat/completions", "plano.record": self.record}
            call = ModelCall(scope, _never, _never, Api.OPENAI_CHAT, RequestIds())
            call.body = orjson.dumps(
                {"model": model, "messages": [{"role": "user", "content": "x"}]}
            )
            call.doc = orjson.loads(call.body)
            call.requested = model
            call.stream = stream
            got = await self.exchange.commit(self.builder.first(call), self.record, model)
            if not isinstance(got, Committed):
                return got
            try:
                return got.resp.status, await got.resp.read()
            finally:
                got.release()

        return asyncio.run(main())

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.transport.requests]


async def _never(*_: Any) -> Any:
    raise AssertionError("the exchange never talks to the client")


def test_nothing_configured_is_one_direct_send() -> None:
    rig = Rig(config(), [MockReply(200, JSON, OK)])
    assert rig.commit() == (200, OK)
    assert rig.record.attempts == 1
    assert rig.transport.unreleased == []
    limits = rig.transport.requests[0].limits
    assert limits is not None and limits.total == 20.0 and limits.connect == 5.0


def test_a_direct_send_that_fails_is_the_answer_as_a_value() -> None:
    rig = Rig(config(), [UpstreamConnectFailed("could not connect to upstream a.test")])
    got = rig.commit()
    assert isinstance(got, UpstreamConnectFailed)
    assert len(rig.transport.requests) == 1


def test_a_good_first_answer_costs_one_attempt_with_retries_configured() -> None:
    rig = Rig(config("    retry_policy: {num_retries: 2}"), [MockReply(200, JSON, OK)])
    assert rig.commit() == (200, OK)
    assert rig.record.attempts == 1 and rig.slept == []


def test_503_is_retried_with_backoff_and_every_answer_released() -> None:
    busy = MockReply(503, JSON, b'{"error": {"message": "busy"}}')
    rig = Rig(
        config("    retry_policy: {num_retries: 3, base_interval: 500ms, max_interval: 5s}"),
        [busy, busy, MockReply(200, JSON, OK)],
    )
    assert rig.commit() == (200, OK)
    assert rig.record.attempts == 3
    assert rig.slept == [0.5, 1.0]
    assert rig.transport.unreleased == []
    assert [e[0] for e in rig.events.seen] == ["retry", "retry"]


def test_retry_after_is_honoured() -> None:
    limited = MockReply(429, (*JSON, ("retry-after", "3")), b"{}")
    rig = Rig(config("    retry_policy: {num_retries: 1}"), [limited, MockReply(200, JSON, OK)])
    assert rig.commit() == (200, OK)
    assert rig.slept == [3.0]


def test_a_cut_body_is_retried() -> None:
    rig = Rig(
        config("    retry_policy: {num_retries: 1, base_interval: 10ms}"),
        [MockReply(200, JSON, b'{"id": "c", "cho'), MockReply(200, JSON, OK)],
    )
    assert rig.commit() == (200, OK)
    assert rig.record.attempts == 2


def test_a_body_that_breaks_off_is_retried() -> None:
    broken = MockReply(200, JSON, chunks=[b'{"id": ', UpstreamBodyBroken("reset mid-body")])
    rig = Rig(config("    retry_policy: {num_retries: 1}"), [broken, MockReply(200, JSON, OK)])
    assert rig.commit() == (200, OK)
    assert rig.transport.unreleased == []


def test_400_is_not_retried_and_is_relayed() -> None:
    bad = MockReply(400, JSON, b'{"error": {"message": "bad"}}')
    rig = Rig(config("    retry_policy: {num_retries: 3}"), [bad, MockReply(200, JSON, OK)])
    assert rig.commit() == (400, b'{"error": {"message": "bad"}}')
    assert rig.record.attempts == 1


def test_the_last_failure_is_relayed_when_retries_run_out() -> None:
    busy = MockReply(503, JSON, b'{"error": {"message": "busy"}}')
    rig = Rig(config("    retry_policy: {num_retries: 1}"), [busy])
    assert rig.commit() == (503, b'{"error": {"message": "busy"}}')
    assert rig.record.attempts == 2
    assert rig.transport.unreleased == []


def test_no_wait_beyond_the_deadline() -> None:
    limited = MockReply(429, (*JSON, ("retry-after", "5")), b"{}")
    rig = Rig(config("    retry_policy: {num_retries: 2}", timeout="2s"), [limited])
    assert rig.commit() == (429, b"{}")  # the upstream's own 429 is relayed
    assert rig.slept == []


def test_a_failing_model_hands_over_to_its_fallback_in_its_own_api() -> None:
    rig = Rig(
        config(
            "    retry_policy: {num_retries: 0}\n    fallbacks: [anthropic/claude-sonnet-4]",
            fallback=True,
        ),
        [UpstreamReset("upstream closed the connection"), MockReply(200, JSON, b'{"id": "m"}')],
    )
    assert rig.commit() == (200, b'{"id": "m"}')
    assert rig.urls[0].startswith("http://a.test/") and rig.urls[1] == "http://b.test/v1/messages"
    sent = orjson.loads(rig.transport.requests[1].body)
    assert sent["model"] == "claude-sonnet-4"
    assert ("failover", "anthropic", "claude-sonnet-4") in rig.events.seen


@pytest.mark.parametrize("failure", [UpstreamConnectFailed("refused"), UpstreamReset("reset")])
def test_transport_failures_are_retried(failure: PlanoError) -> None:
    rig = Rig(config("    retry_policy: {num_retries: 1}"), [failure, MockReply(200, JSON, OK)])
    assert rig.commit() == (200, OK)
    assert rig.record.attempts == 2
