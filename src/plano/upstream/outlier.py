"""Outlier detection: an endpoint with too many consecutive failures is ejected for a while.

Like Envoy's: the ejection time is ``base_ejection_time`` times the number of times the endpoint
was ejected so far, capped at ``max_ejection_time``; it comes back by itself when the time is up
(no active health checks), and a success resets its failure count. Never more than
``max_ejection_percent`` of the endpoints are ejected at once (at least one always stays). The
clock is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from plano.config.resilience import OutlierDetectionConfig

Clock = Callable[[], float]


class OutlierState:
    """Failure counts and ejection deadlines for the ``n`` endpoints of one provider."""

    __slots__ = ("_base", "_clock", "_fails", "_limit", "_max", "_times", "_until", "ejected_count")

    def __init__(self, n: int, cfg: OutlierDetectionConfig, clock: Clock = time.monotonic) -> None:
        self._limit = cfg.consecutive_failures
        self._base = cfg.base_ejection_time
        self._max = cfg.max_ejection_time
        self._clock = clock
        self._fails = [0] * n
        self._times = [0] * n  # ejections so far, per endpoint
        self._until = [0.0] * n
        max_out = (n * cfg.max_ejection_percent) // 100
        self.ejected_count = min(max_out, n - 1)  # the most that may be out at once

    def available(self, i: int) -> bool:
        until = self._until[i]
        return until == 0.0 or self._clock() >= until

    def success(self, i: int) -> None:
        self._fails[i] = 0

    def failure(self, i: int) -> bool:
        """Note a failure; True when it ejected the endpoint."""
        self._fails[i] += 1
        if self._fails[i] < self._limit or not self.available(i):
            return False
        now = self._clock()
        out = sum(1 for u in self._until if u and now < u)
        if out >= self.ejected_count:
            return False
        self._times[i] += 1
        self._until[i] = now + min(self._max, self._base * self._times[i])
        self._fails[i] = 0
        return True
