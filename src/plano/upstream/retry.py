"""Retry policy: which outcomes may be retried, and how long to wait before the next try.

Pure and synchronous. The waits are Envoy's: exponential from ``base_interval`` doubling per
retry, capped at ``max_interval``, with full jitter (a uniform draw in ``[0, cap]``), and never
shorter than an upstream's ``Retry-After``. The random source is injected so tests are exact.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from enum import Enum
from typing import Final

from plano.config.resilience import DEFAULT_RETRY_ON, RetryPolicyConfig


class Outcome(Enum):
    """How one upstream attempt ended, as far as retrying is concerned."""

    OK = "ok"  # a response to relay (2xx, or an error status that is not retried)
    STATUS = "status"  # a retriable status (429, 5xx as configured)
    CONNECT = "connect"  # could not connect (refused, DNS, connect timeout)
    RESET = "reset"  # connection lost before the response head / body
    TIMEOUT = "timeout"  # no head / body in time


_DEFAULT_STATUSES: Final = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    num_retries: int
    statuses: frozenset[int]
    on_connect: bool
    on_reset: bool
    on_timeout: bool
    base: float
    cap: float
    max_retry_after: float
    failover_on_stall: bool = True

    @classmethod
    def of(cls, cfg: RetryPolicyConfig | None, listener_max_retries: int | None) -> RetryPolicy:
        """A provider's policy; without one, the listener's ``max_retries`` with defaults."""
        if cfg is None:
            cfg = RetryPolicyConfig(num_retries=listener_max_retries or 0)
        on = set(cfg.retry_on or DEFAULT_RETRY_ON)
        statuses: set[int] = set()
        if "retriable-status-codes" in on:
            statuses.update(cfg.retriable_status_codes)
        if "5xx" in on:
            statuses.update(range(500, 600))
        return cls(
            num_retries=cfg.num_retries,
            statuses=frozenset(statuses),
            on_connect="connect-failure" in on,
            on_reset="reset" in on,
            on_timeout="timeout" in on,
            base=cfg.base_interval,
            cap=cfg.max_interval,
            max_retry_after=cfg.max_retry_after,
            failover_on_stall=cfg.failover_on_stall,
        )

    def retriable(self, outcome: Outcome, status: int = 0) -> bool:
        if outcome is Outcome.STATUS:
            return status in self.statuses
        if outcome is Outcome.CONNECT:
            return self.on_connect
        if outcome is Outcome.RESET:
            return self.on_reset
        if outcome is Outcome.TIMEOUT:
            return self.on_timeout
        return False

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number ``retry`` (1 = the first retry)."""
        ceiling = min(self.cap, self.base * float(2 ** max(0, retry - 1)))
        return float(ceiling * rand())


NO_RETRIES: Final = RetryPolicy(0, frozenset(), False, False, False, 0.0, 0.0, 0.0)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if unusable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def retriable_statuses(policies: Iterable[RetryPolicy]) -> frozenset[int]:
    out: set[int] = set()
    for p in policies:
        out |= p.statuses
    return frozenset(out) or _DEFAULT_STATUSES
