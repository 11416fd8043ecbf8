from __future__ import annotations

from plano.config.resilience import OutlierDetectionConfig
from plano.upstream.outlier import OutlierState


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state(n: int = 3, **kw: object) -> tuple[OutlierState, Clock]:
    clock = Clock()
    cfg = OutlierDetectionConfig(
        consecutive_failures=2, base_ejection_time=10.0, max_ejection_time=25.0, **kw
    )
    return OutlierState(n, cfg, clock), clock


def test_consecutive_failures_eject_for_a_growing_interval() -> None:
    s, clock = state(max_ejection_percent=100)
    assert not s.failure(0)
    assert s.failure(0)
    assert not s.available(0)
    clock.now += 10.0
    assert s.available(0)  # back by itself
    s.failure(0)
    assert s.failure(0)  # second ejection: 20 s
    clock.now += 19.9
    assert not s.available(0)
    clock.now += 0.1
    assert s.available(0)
    s.failure(0)
    assert s.failure(0)  # third: capped at 25 s
    clock.now += 25.0
    assert s.available(0)


def test_success_resets_the_count() -> None:
    s, _ = state(max_ejection_percent=100)
    s.failure(1)
    s.success(1)
    assert not s.failure(1)
    assert s.available(1)


def test_never_more_than_max_percent_nor_all() -> None:
    s, _ = state(n=2, max_ejection_percent=100)
    s.failure(0)
    assert s.failure(0)
    s.failure(1)
    assert not s.failure(1)  # one must stay
    assert s.available(1)
    s2, _ = state(n=4, max_ejection_percent=25)
    s2.failure(0)
    assert s2.failure(0)
    s2.failure(1)
    assert not s2.failure(1)
