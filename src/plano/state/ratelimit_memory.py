"""Rate-limit state: the `RateLimitStore` protocol, token-bucket math, and the in-process store.

A bucket holds at most ``capacity`` tokens and refills at ``rate`` tokens per second; a request
costing ``cost`` passes when the bucket holds that many (they are taken), else it is refused with
the seconds until it would pass. A cost above the capacity never passes. The memory store keeps
buckets per process (each worker its own), bounded in number; the clock is injected.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

Clock = Callable[[], float]
MAX_BUCKETS: Final = 100_000


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    retry_after: float  # seconds until the request would pass; inf when it never can


class RateLimitStore(Protocol):
    name: str

    async def take(self, key: str, cost: int, capacity: int, rate: float) -> Decision: ...

    async def close(self) -> None: ...


def refill_and_take(
    tokens: float, last: float, now: float, cost: int, capacity: int, rate: float
) -> tuple[float, Decision]:
    """The bucket's new level and the decision for one request (pure)."""
    level = min(float(capacity), tokens + max(0.0, now - last) * rate)
    if cost > capacity:
        return level, Decision(False, math.inf)
    if cost <= level:
        return level - cost, Decision(True, 0.0)
    return level, Decision(False, (cost - level) / rate)


class MemoryRateLimitStore:
    name = "memory"

    def __init__(self, clock: Clock = time.monotonic, max_buckets: int = MAX_BUCKETS) -> None:
        self._clock = clock
        self._max = max_buckets
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take_now(self, key: str, cost: int, capacity: int, rate: float) -> Decision:
        now = self._clock()
        tokens, last = self._buckets.pop(key, (float(capacity), now))
        level, decision = refill_and_take(tokens, last, now, cost, capacity, rate)
        self._buckets[key] = (level, now)  # most recently used last
        if len(self._buckets) > self._max:
            self._buckets.popitem(last=False)  # forget the idlest bucket (it refilled anyway)
        return decision

    async def take(self, key: str, cost: int, capacity: int, rate: float) -> Decision:
        return self.take_now(key, cost, capacity, rate)

    async def close(self) -> None:
        return None
