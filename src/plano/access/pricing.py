"""Model prices and what a request cost (USD), built once at config load.

Prices are USD per million tokens, as the models.dev catalogue writes them. A `PriceTable` has
two layers: fixed prices (the config's `model_providers[].pricing` and the `pricing.path` file)
and a feed (a `model_metrics_sources` cost catalogue, refreshed at run time). A fixed price wins.
Lookups try the canonical `provider/model` name first, then the bare model id. For billing only
(`billed`, `cost`, `estimate`: not routing, which keeps to the prices it was given), a model none
of those price falls back to the bundled snapshot (`assets/price_snapshot.json`, `snapshot()`).

Usage convention (the IR's): `prompt` is the whole input, cache reads and cache writes included;
`cache_read` and `cache_write` are the parts of it served from / written to the provider's cache.
Cost = (prompt - cache_read - cache_write) x input + cache_read x cache_read price + cache_write x
cache_write price + completion x output, per million; a missing cache price is the input price.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

MILLION: Final = 1_000_000.0


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens (cache prices: None when the catalogue has none)."""

    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None


@dataclass(frozen=True, slots=True)
class UsageCounts:
    """What the upstream reported for one attempt (None: not reported)."""

    prompt: int | None = None  # whole input, cache reads and writes included
    completion: int | None = None
    cache_read: int | None = None
    cache_write: int | None = None


@dataclass(frozen=True, slots=True)
class RequestCost:
    """USD, split as billed: uncached input, output, cache reads, cache writes, and the total."""

    input_usd: float
    output_usd: float
    cache_read_usd: float
    cache_write_usd: float
    total_usd: float

    def as_tuple(self) -> tuple[float, float, float, float, float]:
        """(input, output, cache_read, cache_write, total): what a `RequestRecord` keeps."""
        return (
            self.input_usd,
            self.output_usd,
            self.cache_read_usd,
            self.cache_write_usd,
            self.total_usd,
        )

    def __add__(self, other: RequestCost) -> RequestCost:
        return RequestCost(
            self.input_usd + other.input_usd,
            self.output_usd + other.output_usd,
            self.cache_read_usd + other.cache_read_usd,
            self.cache_write_usd + other.cache_write_usd,
            self.total_usd + other.total_usd,
        )


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def parse_models_dev(doc: Any) -> dict[str, ModelPrice]:
    """`{provider: {models: {id: {cost: {input, output, cache_read, cache_write}}}}}` ->
    prices keyed `provider/id` and (first seen) bare `id`. Entries without input and output
    prices are skipped; anything that is not the expected shape is ignored."""
    out: dict[str, ModelPrice] = {}
    if not isinstance(doc, dict):
        return out
    for provider, entry in doc.items():
        models = entry.get("models") if isinstance(entry, dict) else None
        if not isinstance(models, dict):
            continue
        for model_id, model in models.items():
            cost = model.get("cost") if isinstance(model, dict) else None
            if not isinstance(cost, dict):
                continue
            inp, outp = _num(cost.get("input")), _num(cost.get("output"))
            if inp is None or outp is None:
                continue
            read, write = _num(cost.get("cache_read")), _num(cost.get("cache_write"))
            price = ModelPrice(inp, outp, read, write)
            out[f"{provider}/{model_id}"] = price
            out.setdefault(str(model_id), price)
    return out


SNAPSHOT_FILE: Final = "price_snapshot.json"


def snapshot() -> dict[str, ModelPrice]:
    """The bundled snapshot of public prices (dated in the file: it goes stale), keyed
    `provider/model`, its dated aliases, and (first seen) the bare ids."""
    raw = importlib.resources.files("plano.access").joinpath("assets", SNAPSHOT_FILE).read_bytes()
    doc = orjson.loads(raw)
    out: dict[str, ModelPrice] = {}
    for name, cost in doc["models"].items():
        out[name] = ModelPrice(
            float(cost["input"]),
            float(cost["output"]),
            _num(cost.get("cache_read")),
            _num(cost.get("cache_write")),
        )
    for alias, name in doc.get("aliases", {}).items():
        out[alias] = out[name]
    for name, price in list(out.items()):
        out.setdefault(name.partition("/")[2], price)
    return out


class PriceTable:
    """Prices by model name; `cost` turns reported usage into USD. Built once at config load.
    `fallback` (the bundled snapshot) prices what nothing else does, for billing only."""

    __slots__ = ("_fallback", "_feed", "_fixed")

    def __init__(
        self,
        fixed: Mapping[str, ModelPrice] | None = None,
        feed: Mapping[str, ModelPrice] | None = None,
        fallback: Mapping[str, ModelPrice] | None = None,
    ) -> None:
        self._fixed: dict[str, ModelPrice] = dict(fixed or {})
        self._feed: dict[str, ModelPrice] = dict(feed or {})
        self._fallback: dict[str, ModelPrice] = dict(fallback or {})

    def __bool__(self) -> bool:
        return bool(self._fixed or self._feed)

    def __iter__(self) -> Iterator[str]:
        return iter({**self._feed, **self._fixed})

    def set_feed(self, prices: Mapping[str, ModelPrice]) -> None:
        """Replace the fed prices (a metrics source's fetch); fixed prices keep winning."""
        self._feed = dict(prices)

    def price(self, model: str) -> ModelPrice | None:
        """The price of `model` (canonical `provider/model`, falling back to the bare id)."""
        fixed, feed = self._fixed, self._feed
        found = fixed.get(model) or feed.get(model)
        if found is None:
            bare = model.partition("/")[2]
            if bare:
                found = fixed.get(bare) or feed.get(bare)
        return found

    def billed(self, model: str) -> ModelPrice | None:
        """The price a request on `model` is billed at: `price`, else the snapshot's."""
        found = self.price(model)
        if found is None and self._fallback:
            fallback = self._fallback
            found = fallback.get(model) or fallback.get(model.partition("/")[2])
        return found

    def cost(self, model: str, usage: UsageCounts) -> RequestCost | None:
        """What `usage` cost on `model`; None when the model has no price."""
        price = self.billed(model)
        return None if price is None else cost_of(price, usage)

    def estimate(self, model: str, prompt_tokens: int, max_output_tokens: int) -> float:
        """An upper estimate (USD) for a reservation: every prompt token at the full input
        price and `max_output_tokens` at the output price. 0.0 when the model has no price."""
        price = self.billed(model)
        if price is None:
            return 0.0
        return (
            max(prompt_tokens, 0) * price.input_per_mtok
            + max(max_output_tokens, 0) * price.output_per_mtok
        ) / MILLION


def cost_of(price: ModelPrice, usage: UsageCounts) -> RequestCost:
    """The module docstring's formula; unreported counts are 0."""
    return RequestCost(
        *split_cost(price, usage.prompt, usage.completion, usage.cache_read, usage.cache_write)
    )


def split_cost(
    price: ModelPrice,
    prompt: int | None,
    completion: int | None,
    cache_read: int | None,
    cache_write: int | None,
) -> tuple[float, float, float, float, float]:
    """(input, output, cache_read, cache_write, total) USD: the formula, without allocating
    more than the tuple (the per-request path)."""
    read = cache_read if cache_read and cache_read > 0 else 0
    write = cache_write if cache_write and cache_write > 0 else 0
    fresh = (prompt or 0) - read - write
    inp = price.input_per_mtok
    i = fresh * inp / MILLION if fresh > 0 else 0.0
    o = completion * price.output_per_mtok / MILLION if completion and completion > 0 else 0.0
    rate = price.cache_read_per_mtok
    r = read * (inp if rate is None else rate) / MILLION
    rate = price.cache_write_per_mtok
    w = write * (inp if rate is None else rate) / MILLION
    return (i, o, r, w, i + o + r + w)
