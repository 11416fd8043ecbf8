from __future__ import annotations

from collections import Counter
from itertools import cycle

from plano.config.resilience import OutlierDetectionConfig
from plano.upstream.balancer import Balancer
from plano.upstream.outlier import OutlierState


def test_round_robin_follows_weights_smoothly() -> None:
    b = Balancer([5, 1, 1], "round_robin")
    picks = [b.pick() for _ in range(7)]
    assert Counter(picks) == {0: 5, 1: 1, 2: 1}
    assert picks[:2] != [0, 0] or picks[2] != 0  # not five in a row


def test_tried_endpoints_are_skipped() -> None:
    b = Balancer([1, 1, 1], "round_robin")
    assert b.pick(tried=0b011) == 2
    assert b.pick(tried=0b111) in (0, 1, 2)  # nothing left: any


def test_ejected_endpoint_is_skipped_until_it_returns() -> None:
    now = [0.0]
    outlier = OutlierState(
        3,
        OutlierDetectionConfig(consecutive_failures=1, base_ejection_time=5.0),
        lambda: now[0],
    )
    b = Balancer([1, 1, 1], "round_robin", outlier)
    assert outlier.failure(0)
    assert 0 not in {b.pick() for _ in range(6)}
    now[0] = 5.0
    assert 0 in {b.pick() for _ in range(6)}


def test_least_request_prefers_the_idle_one_of_two() -> None:
    draws = cycle([0.0, 0.5])  # candidates 0 and 1
    b = Balancer([1, 1], "least_request", rand=lambda: next(draws))
    b.active[0] = 3
    assert b.pick() == 1
    b.active[1] = 5
    assert b.pick() == 0


def test_random_is_weighted() -> None:
    b = Balancer([1, 3], "random", rand=lambda: 0.3)
    assert b.pick() == 1
    b2 = Balancer([1, 3], "random", rand=lambda: 0.2)
    assert b2.pick() == 0


def test_ring_hash_keeps_a_key_on_its_endpoint() -> None:
    b = Balancer([1, 1, 1], "ring_hash")
    keys = [f"prefix-{i}".encode() for i in range(50)]
    first = [b.pick(key=k) for k in keys]
    assert [b.pick(key=k) for k in keys] == first
    assert len(set(first)) == 3
    moved = [b.pick(tried=1 << first[0], key=keys[0])]
    assert moved[0] != first[0]
