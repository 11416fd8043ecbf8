"""Key budgets: reserve before the upstream call, settle with the real cost after it.

A key's spend per period (`day` and `month` in UTC, or `total`) is one number in the key store
that includes the reservations of its requests in flight. Before the call the gateway reserves
an estimate (`PriceTable.estimate`: the prompt at the input price plus `max_tokens`, or the
configured default, at the output price); the store adds it only while the spend is below the
budget, in one atomic step (a PostgreSQL upsert with a condition, a file lock, or the event
loop), so however many workers and replicas race, the spend passes the budget by at most one
request: the one that crossed it. Once the request has ended its cost is final (the cost meter,
`access.cost`), and the spend moves by `cost - estimate`; a request that failed before any token
was billed takes its estimate back. A refused request gets 429 and no upstream call.

Crossing `alert_at` (a fraction of the budget) logs a warning and counts
`plano_key_budget_alerts_total`, once per crossing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final, Protocol

from plano.errors import RateLimited
from plano.state.keys import KeyRecord, KeyStore, NowaitSpend

log = logging.getLogger("plano.access")

RETRY_AFTER_DAY: Final = 3600


class Pricing(Protocol):
    def estimate(self, model: str, prompt_tokens: int, max_output_tokens: int) -> float: ...


class BudgetEvents(Protocol):
    def budget_alert(self, record: KeyRecord, spent: float) -> None: ...


def period_label(period: str, now: float) -> str:
    """The store's name for the current period of a budget (UTC)."""
    if period == "total":
        return "total"
    t = time.gmtime(now)
    if period == "day":
        return f"d{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
    return f"m{t.tm_year:04d}-{t.tm_mon:02d}"


class BudgetExhausted(RateLimited):
    code = "budget_exhausted"


class Reservation:
    """One request's hold on its key's budget, settled once when the request ends."""

    __slots__ = ("alert", "amount", "key", "period")

    def __init__(self, key: KeyRecord, period: str, amount: float, alert: bool = False) -> None:
        self.key = key
        self.period = period
        self.amount = amount
        self.alert = alert  # the spend (reservations included) is past the alert threshold


class Budgets:
    def __init__(
        self,
        store: KeyStore,
        prices: Pricing | None,
        default_max_tokens: int,
        events: BudgetEvents | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._prices = prices
        self._default_max = default_max_tokens
        self._events = events
        self._clock = clock
        self._tasks: set[asyncio.Task[None]] = set()
        self._nowait = store.adjust_nowait if isinstance(store, NowaitSpend) else None

    def estimate(self, model: str, prompt_tokens: int, max_tokens: int | None) -> float:
        if self._prices is None:
            return 0.0
        out = max_tokens if max_tokens is not None and max_tokens > 0 else self._default_max
        return self._prices.estimate(model, prompt_tokens, out)

    async def reserve(self, key: KeyRecord, amount: float) -> Reservation | BudgetExhausted:
        """Hold `amount` (USD) of the key's budget, or refuse when it is spent."""
        limit = key.budget_usd
        assert limit is not None
        period = period_label(key.period, self._clock())
        spent = await self._store.reserve(key.id, period, amount, limit)
        if spent is not None:
            at = key.alert_at
            return Reservation(key, period, amount, at is not None and spent >= at * limit)
        per = "in total" if key.period == "total" else f"per {key.period}"
        return BudgetExhausted(
            f"the budget of key '{key.name}' (${limit:g} {per}) is spent;"
            " requests are refused until the next period or a higher budget",
            headers=(("retry-after", str(RETRY_AFTER_DAY)),),
        )

    def settle(self, res: Reservation, cost: float | None) -> None:
        """The request ended having cost `cost` (None: nothing billed): correct the spend, at
        once when the store can (`NowaitSpend`), else in the background (the answer has been
        sent)."""
        delta = (cost or 0.0) - res.amount
        if delta == 0.0 and cost is None:
            return
        nowait = self._nowait
        if nowait is not None:  # no task: the store moves it at once
            try:
                spent = nowait(res.key.id, res.period, delta)
            except OSError as exc:
                log.warning("key '%s': budget not settled (%s)", res.key.name, type(exc).__name__)
                return
            if spent is not None:
                self._alert(res.key, spent, cost or 0.0)
                return
        task = asyncio.ensure_future(self._settle(res, delta, cost or 0.0))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _settle(self, res: Reservation, delta: float, cost: float) -> None:
        try:
            spent = await self._store.adjust(res.key.id, res.period, delta)
        except Exception as exc:  # the store is down: the estimate stays charged
            log.warning("key '%s': budget not settled (%s)", res.key.name, type(exc).__name__)
            return
        self._alert(res.key, spent, cost)

    def _alert(self, key: KeyRecord, spent: float, cost: float) -> None:
        at, limit = key.alert_at, key.budget_usd
        if at is None or limit is None or cost <= 0.0:
            return
        threshold = at * limit
        if spent - cost < threshold <= spent:
            log.warning(
                "key '%s' (team %s) has spent $%.4f of its $%g %s budget (alert at %d%%)",
                key.name,
                key.team or "-",
                spent,
                limit,
                key.period,
                round(at * 100),
            )
            if self._events is not None:
                self._events.budget_alert(key, spent)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
