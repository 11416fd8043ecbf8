"""A provider's own circuit (`model_providers[].health`, on by default): a provider that keeps
failing is skipped by every request that has a fallback left, and comes back by itself.

Envoy's words: the circuit is **closed** (attempts go through) until ``consecutive_failures``
attempts in a row failed (5xx, connect errors, resets, timeouts; a 429 counts neither way, any
other answer is a success). It is then **open** for ``open_for``: a request with a fallback left
does not try the provider at all (a request without one still does, and its success closes the
circuit). When the time is up the circuit is **half-open**: up to ``half_open_probes`` attempts
at a time go through; a success closes it, a failure opens it again. A probe whose result never
comes (its attempt refused by a full breaker) is forgotten after another ``open_for``.

With several worker processes (the supervisor's per-run metrics directory is set), the state
is shared through a table in memory that every worker maps (`health_table`): failures are
counted jointly, an open circuit is open for every worker, a success anywhere closes it for all;
half-open probes stay per worker (up to ``half_open_probes`` each). Without that directory (one
in-process gateway, tests) each circuit keeps its state to itself. Synchronous; the clock is
injected.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Final

from plano.config.resilience import HealthConfig
from plano.observability import multiproc
from plano.upstream.health_table import HealthTable, open_table

Clock = Callable[[], float]
OnChange = Callable[[str, str], None]  # (provider, state name)

CLOSED: Final = 0
OPEN: Final = 1
HALF_OPEN: Final = 2
STATE_NAMES: Final = ("closed", "open", "half_open")
SHARING_ENV: Final = "PLANO_HEALTH_SHARED"  # "0", "false" or "off": every worker on its own

log = logging.getLogger("plano.upstream")


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
        "_state",
        "name",
    )

    def __init__(
        self,
        name: str,
        cfg: HealthConfig,
        on_change: OnChange | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.name = name
        self._state = CLOSED
        self._limit = cfg.consecutive_failures
        self._open_for = cfg.open_for
        self._max_probes = cfg.half_open_probes
        self._on_change = on_change
        self._clock = clock
        self._fails = 0
        self._probes = 0
        self._since = 0.0  # when the circuit opened or went half-open

    @property
    def state(self) -> int:
        """CLOSED, OPEN or HALF_OPEN."""
        return self._state

    def admits(self) -> bool:
        """Whether an attempt that could go to a fallback instead may try the provider now
        (half-open: takes one probe slot)."""
        state = self._state
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
        if self._state != CLOSED:
            self._set(CLOSED, 0.0)

    def failure(self) -> None:
        self._fails += 1
        state = self._state
        if state == HALF_OPEN or (state == CLOSED and self._fails >= self._limit):
            self._set(OPEN, self._clock())
        elif state == OPEN:
            self._since = self._clock()  # a request without fallback failed again: stay open

    def _set(self, state: int, now: float) -> None:
        self._state = state
        self._since = now
        self._probes = 0
        if state == CLOSED:
            self._fails = 0
        if self._on_change is not None:
            self._on_change(self.name, STATE_NAMES[state])


class SharedCircuit(Circuit):
    """A circuit whose state lives in the shared table (slot at byte `off`); the worker keeps
    a copy of the state for its metrics and counts its own half-open probes."""

    __slots__ = ("_off", "_table")

    def __init__(
        self,
        name: str,
        cfg: HealthConfig,
        table: HealthTable,
        off: int,
        on_change: OnChange | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        super().__init__(name, cfg, on_change, clock)
        self._table = table
        self._off = off

    @property
    def state(self) -> int:
        """The shared state as this worker sees it now (one read of the map when closed)."""
        until = self._table.open_until(self._off)
        if until == 0.0 and self._state == CLOSED:
            return CLOSED
        return self._sync(until, self._clock())

    def admits(self) -> bool:
        now = self._clock()
        state = self._sync(self._table.open_until(self._off), now)
        if state == CLOSED:
            return True
        if state == OPEN:
            return False
        if self._probes >= self._max_probes and now - self._since >= self._open_for:
            self._probes = 0  # this worker's probes never reported: let new ones through
            self._since = now
        if self._probes < self._max_probes:
            self._probes += 1
            return True
        return False

    def success(self) -> None:
        if self._table.dirty(self._off):
            self._table.clear(self._off)
        if self._state != CLOSED:
            self._set(CLOSED, 0.0)

    def failure(self) -> None:
        now = self._clock()
        until = self._table.failed(self._off, now, self._limit, self._open_for)
        if until == 0.0:
            if self._state != CLOSED:  # closed meanwhile by a success elsewhere
                self._set(CLOSED, 0.0)
        elif self._state != OPEN:
            self._set(OPEN, now)
        else:
            self._since = now

    def _sync(self, until: float, now: float) -> int:
        """Follow the table: closed (0.0), open until `until`, half-open after it. An end
        further away than `open_for` is not ours (a corrupt slot): closed, until the next
        failure rewrites it."""
        if until == 0.0 or until - now > self._open_for:
            target = CLOSED
        elif now < until:
            target = OPEN
        else:
            target = HALF_OPEN
        if target != self._state:
            self._set(target, until - self._open_for if target == OPEN else now)
        return target


_shared: dict[str, HealthTable | None] = {}


def shared_table() -> HealthTable | None:
    """The run's shared table, or None: no per-run directory (one in-process gateway), sharing
    turned off (`PLANO_HEALTH_SHARED=0`), or the file could not be opened (logged once)."""
    if os.environ.get(SHARING_ENV, "").strip().lower() in ("0", "false", "off", "no"):
        return None
    directory = multiproc.active_dir()
    if directory is None:
        return None
    key = f"{os.getpid()}:{directory}"
    if key not in _shared:
        try:
            _shared[key] = open_table(directory)
        except (OSError, ValueError) as exc:
            log.warning("provider health stays per worker: cannot map %s (%s)", directory, exc)
            _shared[key] = None
    return _shared[key]


def build_circuit(name: str, cfg: HealthConfig, on_change: OnChange | None = None) -> Circuit:
    """The provider's circuit: shared by the run's workers when a shared table is available."""
    table = shared_table()
    if table is not None:
        off = table.slot(name)
        if off is not None:
            return SharedCircuit(name, cfg, table, off, on_change)
    return Circuit(name, cfg, on_change)
