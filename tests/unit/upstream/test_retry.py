from __future__ import annotations

import math

import pytest

from plano.config.resilience import RetryPolicyConfig
from plano.upstream.retry import Outcome, RetryPolicy, retry_after_seconds


def test_listener_max_retries_gives_the_original_policy() -> None:
    p = RetryPolicy.of(None, 3)
    assert p.num_retries == 3
    assert {429, 500, 502, 503, 504} <= p.statuses
    assert p.retriable(Outcome.STATUS, 503) and p.retriable(Outcome.STATUS, 429)
    assert not p.retriable(Outcome.STATUS, 400)
    assert p.retriable(Outcome.CONNECT) and p.retriable(Outcome.RESET)
    assert not p.retriable(Outcome.OK)


def test_retry_on_narrows_what_is_retried() -> None:
    cfg = RetryPolicyConfig(num_retries=2, retry_on=("connect-failure",))
    p = RetryPolicy.of(cfg, None)
    assert p.retriable(Outcome.CONNECT)
    assert not p.retriable(Outcome.STATUS, 503)
    assert not p.retriable(Outcome.RESET)
    assert not p.retriable(Outcome.TIMEOUT)


def test_backoff_doubles_up_to_the_cap_with_full_jitter() -> None:
    p = RetryPolicy.of(RetryPolicyConfig(base_interval=0.5, max_interval=3.0), None)
    top = [p.backoff(n, lambda: 1.0) for n in range(1, 6)]
    assert top == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert p.backoff(3, lambda: 0.25) == 0.5
    assert p.backoff(1, lambda: 0.0) == 0.0


def test_max_interval_below_base_is_refused() -> None:
    with pytest.raises(ValueError, match="max_interval"):
        RetryPolicyConfig(base_interval=2.0, max_interval=1.0)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-2", 0.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    now = 1445412480.0  # 07:28:00 that day
    got = retry_after_seconds(value, now)
    assert got == expected or (
        got is not None and expected is not None and math.isclose(got, expected)
    )
