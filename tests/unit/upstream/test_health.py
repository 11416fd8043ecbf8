"""A provider's own circuit: closed → open after consecutive failures → half-open probes →
closed again; and the exchange skipping an open provider for its fallback."""

from __future__ import annotations

import orjson

from plano.config.resilience import HealthConfig
from plano.errors import UpstreamConnectFailed
from plano.upstream.health import CLOSED, HALF_OPEN, OPEN, Circuit
from plano.upstream.mock_transport import MockReply
from tests.unit.upstream.test_exchange import OK, Rig, config


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def circuit(**kw: object) -> tuple[Circuit, Clock, list[str]]:
    clock = Clock()
    changes: list[str] = []
    cfg = HealthConfig(**kw)  # type: ignore[arg-type]
    return Circuit("p", cfg, lambda _, state: changes.append(state), clock), clock, changes


def test_opens_after_consecutive_failures_and_a_success_resets_the_count() -> None:
    c, _, changes = circuit(consecutive_failures=3)
    c.failure()
    c.failure()
    c.success()
    c.failure()
    c.failure()
    assert c.state == CLOSED and c.admits()
    c.failure()
    assert c.state == OPEN and not c.admits()
    assert changes == ["open"]


def test_half_open_after_open_for_admits_probes_then_closes_on_success() -> None:
    c, clock, changes = circuit(consecutive_failures=1, open_for=10.0, half_open_probes=2)
    c.failure()
    clock.now += 9.9
    assert not c.admits()
    clock.now += 0.1
    assert c.admits() and c.admits()  # two probes
    assert c.state == HALF_OPEN and not c.admits()  # no third while they are out
    c.success()
    assert c.state == CLOSED and c.admits()
    assert changes == ["open", "half_open", "closed"]


def test_a_failed_probe_opens_it_again_for_open_for() -> None:
    c, clock, changes = circuit(consecutive_failures=1, open_for=5.0)
    c.failure()
    clock.now += 5.0
    assert c.admits()
    c.failure()
    assert c.state == OPEN and not c.admits()
    clock.now += 5.0
    assert c.admits()
    assert changes == ["open", "half_open", "open", "half_open"]


def test_a_probe_that_never_reports_is_forgotten_after_open_for() -> None:
    c, clock, _ = circuit(consecutive_failures=1, open_for=5.0)
    c.failure()
    clock.now += 5.0
    assert c.admits()  # this probe's attempt never reports back
    assert not c.admits()
    clock.now += 5.0
    assert c.admits()


def test_429_says_nothing_about_health() -> None:
    """Unit-level: the exchange notes 429 neither as failure nor as success."""
    cfg = config(
        "    fallbacks: [anthropic/claude-sonnet-4]\n"
        "    retry_policy: {num_retries: 0}\n"
        "    health: {consecutive_failures: 1, open_for: 60s}",
        fallback=True,
    )
    rig = Rig(cfg, [MockReply(429, body=b"{}")])
    rig.commit()
    assert ("circuit", "openai/gpt-4o", "open") not in rig.events.seen


def test_the_exchange_skips_an_open_provider_while_a_fallback_is_left() -> None:
    cfg = config(
        "    fallbacks: [anthropic/claude-sonnet-4]\n"
        "    retry_policy: {num_retries: 2, base_interval: 1ms, max_interval: 1ms}\n"
        "    health: {consecutive_failures: 2, open_for: 60s}",
        fallback=True,
    )
    anthropic_ok = MockReply(200, body=orjson.dumps({"id": "m", "content": []}))
    down = UpstreamConnectFailed("refused")
    rig = Rig(cfg, [down, down, anthropic_ok])
    got = rig.commit()
    assert isinstance(got, tuple) and got[0] == 200
    # two failures open the circuit: the third attempt is not made, the fallback serves
    assert rig.urls == ["http://a.test/v1/chat/completions"] * 2 + ["http://b.test/v1/messages"]
    assert ("circuit", "openai/gpt-4o", "open") in rig.events.seen
    assert ("health_skipped", "openai", "gpt-4o") in rig.events.seen
    # the next request does not try the open provider at all
    rig.commit()
    assert rig.urls[3:] == ["http://b.test/v1/messages"]


def test_a_provider_without_fallback_is_always_tried() -> None:
    cfg = config(
        "    retry_policy: {num_retries: 3, base_interval: 1ms, max_interval: 1ms}\n"
        "    health: {consecutive_failures: 1}"
    )
    rig = Rig(cfg, [UpstreamConnectFailed("refused"), MockReply(200, body=OK)])
    got = rig.commit()
    assert isinstance(got, tuple) and got[0] == 200
    assert len(rig.urls) == 2
    # nothing to skip to: no circuit is kept for it at all
    assert not [e for e in rig.events.seen if e[0] == "circuit"]
