"""Where a request's cost becomes final: the cost meter, run once per request as it ends.

`CostMeter.settle(record)` runs in the app's request wrapper just before `Telemetry.finish`
hands the record to the sinks (metrics, span, access log, PostHog), so every sink reads the same
`record.cost_usd` / `record.cost`. It prices the answering attempt (`record.model` with the
record's token counts) or, when attempts were noted one by one (`record.billed`: a stream cut
mid-way and continued elsewhere is billed by each provider for its part), each of them on its
own model, and sums them; then it calls every
subscriber with the record (`subscribe`: e.g. settling a gateway key's budget). Subscribers run on
the event loop and must not block: they schedule their I/O and return.

Cost: a few dict lookups and multiplications, only for records that carry usage.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from plano.access.pricing import (
    ModelPrice,
    PriceTable,
    RequestCost,
    UsageCounts,
    parse_models_dev,
    snapshot,
    split_cost,
)
from plano.config import Config
from plano.config.access import ModelPriceConfig, read_price_file, resolve
from plano.observability.record import RequestRecord

log = logging.getLogger("plano.access")

CostSubscriber = Callable[[RequestRecord], None]
Billed = tuple[str, int | None, int | None, int | None, int | None]


class CostMeter:
    """Prices finished requests with one `PriceTable` (built at config load)."""

    __slots__ = ("_subscribers", "table")

    def __init__(self, table: PriceTable) -> None:
        self.table = table
        self._subscribers: tuple[CostSubscriber, ...] = ()

    def subscribe(self, fn: CostSubscriber) -> None:
        """Call `fn(record)` for every finished request once its cost is set (the cost may be
        None: no usage, or no price for the model). Called at build time, or once on first
        need, never per request."""
        self._subscribers = (*self._subscribers, fn)

    def settle(self, record: RequestRecord) -> None:
        """Set `record.cost_usd` and `record.cost`, then notify the subscribers."""
        if record.billed:
            self._billed(record, record.billed)
        elif record.model is not None and (
            record.prompt_tokens is not None or record.completion_tokens is not None
        ):
            price = self.table.billed(record.model)
            if price is not None:
                cost = split_cost(
                    price,
                    record.prompt_tokens,
                    record.completion_tokens,
                    record.cached_tokens,
                    record.cache_write_tokens,
                )
                record.cost = cost
                record.cost_usd = cost[4]
        if self._subscribers:
            self._notify(record)

    def _notify(self, record: RequestRecord) -> None:
        for fn in self._subscribers:
            try:
                fn(record)
            except Exception:  # a subscriber's bug must not fail the request
                log.exception("cost subscriber %r failed", fn)

    def _billed(self, record: RequestRecord, billed: list[Billed]) -> None:
        total: RequestCost | None = None
        for name, prompt, completion, read, write in billed:
            part = self.table.cost(name, UsageCounts(prompt, completion, read, write))
            if part is not None:
                total = part if total is None else total + part
        if total is not None:
            record.cost = total.as_tuple()
            record.cost_usd = total.total_usd


def _price(p: ModelPriceConfig) -> ModelPrice:
    return ModelPrice(
        p.input_per_mtok, p.output_per_mtok, p.cache_read_per_mtok, p.cache_write_per_mtok
    )


def build_prices(config: Config) -> PriceTable:
    """The fixed prices of a config: the `pricing.file` catalogue, then `pricing.models`, then
    `model_providers[].pricing` (by canonical `provider/model`), each winning over the one
    before. A cost `model_metrics_sources` entry feeds the table at run time (`set_feed`). The
    bundled snapshot bills what none of them prices, unless `pricing.snapshot` is false."""
    fixed: dict[str, ModelPrice] = {}
    pricing = config.pricing
    if pricing is not None:
        if pricing.file is not None:  # checked at load; a file gone since then is a load error
            fixed.update(parse_models_dev(read_price_file(resolve(config.source, pricing.file))))
        fixed.update((name, _price(p)) for name, p in pricing.models.items())
    for mp in config.model_providers:
        if mp.pricing is not None:
            fixed[f"{mp.provider}/{mp.model_id}"] = _price(mp.pricing)
    use_snapshot = pricing is None or pricing.snapshot
    return PriceTable(fixed, fallback=snapshot() if use_snapshot else None)


def build_meter(config: Config) -> CostMeter:
    return CostMeter(build_prices(config))
