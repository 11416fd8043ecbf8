"""A provider's own circuit (`model_providers[].health`, on by default): a provider that keeps
failing is skipped by every request that has a fallback left, and comes back by itself.

Envoy's words: the circuit is **closed** (attempts go through) until ``consecutive_failures``
attempts in a row failed (5xx, connect errors, resets, timeouts; a 429 counts neither way, any
other answer is a success). It is then **open** for ``open_for``: a request with a fallback left
does not try the provider at all (a request without one still does, and its success closes the
circuit). When the time is up the circuit is **half-open**: up to ``half_open_probes`` attempts
at a time go through; a success closes it, a failure opens it again. A probe whose result never
comes (its attempt refused by a full breaker) is forgotten after another ``open_for``.

State is per worker process: an outage costs each worker ``consecutive_failures`` attempts
before it stops trying. Pure and synchronous; the clock is injected.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from plano.config.resilience import HealthConfig

Clock = Callable[[], float]
OnChange = Callable[[str, str], None]  # (provider, state name)

CLOSED: Final = 0
OPEN: Final = 1
HALF_OPEN: Final = 2
STATE_NAMES: Final = ("closed", "open", "half_open")


class Circuit:
    """The health of one provider (all its endpoints together)."""

    __slots__ = (
        "_clock",
        "_fails",
        "_limit",
        "_max_probes",
        "_on_change",
        "_open_for",
        "_probes",
        "_since",
        "name",
        "state",
    )

    def __init__(
        self,
        name: str,
        cfg: HealthConfig,
        on_change: OnChange | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self.state = CLOSED
        self._limit = cfg.consecutive_failures
        self._open_for = cfg.open_for
        self._max_probes = cfg.half_open_probes
        self._on_change = on_change
        self._clock = clock
        self._fails = 0
        self._probes = 0
        self._since = 0.0  # when the circuit opened or went half-open

    def admits(self) -> bool:
        """Whether an attempt that could go to a fallback instead may try the provider now
        (half-open: takes one probe slot)."""
        state = self.state
        if state == CLOSED:
            return True
        now = self._clock()
        if state == OPEN:
            if now - self._since < self._open_for:
                return False
            self._set(HALF_OPEN, now)
        elif self._probes >= self._max_probes and now - self._since >= self._open_for:
            self._probes = 0  # the probes never reported: let new ones through
            self._since = now
        if self._probes < self._max_probes:
            self._probes += 1
            return True
        return False

    def success(self) -> None:
        self._fails = 0
        if self.state != CLOSED:
            self._set(CLOSED, 0.0)

    def failure(self) -> None:
        self._fails += 1
        state = self.state
        if state == HALF_OPEN or (state == CLOSED and self._fails >= self._limit):
            self._set(OPEN, self._clock())
        elif state == OPEN:
            self._since = self._clock()  # a request without fallback failed again: stay open

    def _set(self, state: int, now: float) -> None:
        self.state = state
        self._since = now
        self._probes = 0
        if state == CLOSED:
            self._fails = 0
        if self._on_change is not None:
            self._on_change(self.name, STATE_NAMES[state])
