from __future__ import annotations

import asyncio
import math

from plano.state.ratelimit_memory import MemoryRateLimitStore, refill_and_take


def test_bucket_takes_refills_and_refuses() -> None:
    level, d = refill_and_take(10.0, 0.0, 0.0, 4, 10, 1.0)
    assert d.allowed and level == 6.0
    level, d = refill_and_take(level, 0.0, 0.0, 7, 10, 1.0)
    assert not d.allowed and d.retry_after == 1.0 and level == 6.0
    level, d = refill_and_take(level, 0.0, 1.0, 7, 10, 1.0)
    assert d.allowed and level == 0.0
    level, d = refill_and_take(0.0, 0.0, 100.0, 1, 10, 1.0)
    assert level == 9.0  # refill is capped at the capacity


def test_cost_above_capacity_never_passes() -> None:
    _, d = refill_and_take(10.0, 0.0, 0.0, 11, 10, 1.0)
    assert not d.allowed and math.isinf(d.retry_after)


def test_memory_store_uses_its_clock_and_bounds_buckets() -> None:
    now = [0.0]
    store = MemoryRateLimitStore(lambda: now[0], max_buckets=2)
    assert store.take_now("a", 2, 2, 0.5).allowed
    assert not store.take_now("a", 1, 2, 0.5).allowed
    now[0] = 2.0
    assert store.take_now("a", 1, 2, 0.5).allowed
    store.take_now("b", 1, 2, 0.5)
    store.take_now("c", 1, 2, 0.5)  # "a" is the idlest and is forgotten
    assert store.take_now("a", 2, 2, 0.5).allowed
    assert asyncio.run(store.take("d", 1, 1, 1.0)).allowed
