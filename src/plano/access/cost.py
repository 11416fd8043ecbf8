"""Where a request's cost becomes final: the cost meter, run once per request as it ends.

`CostMeter.settle(record)` runs in the app's request wrapper just before `Telemetry.finish`
hands the record to the sinks (metrics, span, access log, PostHog), so every sink reads the same
`record.cost_usd` / `record.cost`. It prices each billed attempt (`record.billed`: an attempt
cut mid-stream and continued elsewhere is billed by the provider that served it) and the
answering attempt (`record.model` with the record's token counts), sums them, then calls every
subscriber with the record (`subscribe`: e.g. settling a gateway key's budget). Subscribers run on
the event loop and must not block: they schedule their I/O and return.

Cost: a few dict lookups and multiplications, only for records that carry usage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from plano.access.pricing import PriceTable, RequestCost, UsageCounts
from plano.observability.record import RequestRecord

log = logging.getLogger("plano.access")

CostSubscriber = Callable[[RequestRecord], None]


class CostMeter:
    """Prices finished requests with one `PriceTable` (built at config load)."""

    __slots__ = ("_subscribers", "table")

    def __init__(self, table: PriceTable) -> None:
        self.table = table
        self._subscribers: tuple[CostSubscriber, ...] = ()

    def subscribe(self, fn: CostSubscriber) -> None:
        """Call `fn(record)` for every finished request once its cost is set (the cost may be
        None: no usage, or no price for the model). Called at build time, not per request."""
        self._subscribers = (*self._subscribers, fn)

    def settle(self, record: RequestRecord) -> None:
        """Set `record.cost_usd` and `record.cost`, then notify the subscribers."""
        if record.model is not None and (
            record.prompt_tokens is not None or record.completion_tokens is not None
        ):
            self._price(record, record.model)
        elif record.billed:
            self._price(record, None)
        for fn in self._subscribers:
            try:
                fn(record)
            except Exception:  # a subscriber's bug must not fail the request
                log.exception("cost subscriber %r failed", fn)

    def _price(self, record: RequestRecord, model: str | None) -> None:
        table = self.table
        total: RequestCost | None = None
        for name, prompt, completion, read, write in record.billed or ():
            part = table.cost(name, UsageCounts(prompt, completion, read, write))
            if part is not None:
                total = part if total is None else total + part
        if model is not None:
            usage = UsageCounts(
                record.prompt_tokens,
                record.completion_tokens,
                record.cached_tokens,
                record.cache_write_tokens,
            )
            part = table.cost(model, usage)
            if part is not None:
                total = part if total is None else total + part
        if total is not None:
            record.cost = total.as_tuple()
            record.cost_usd = total.total_usd
