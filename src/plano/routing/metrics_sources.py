"""`model_metrics_sources`: cost catalogues and a Prometheus latency query, off the hot path.

- `cost` / `models.dev`: `GET https://models.dev/api.json` -> `{provider: {models: {id: {cost:
  {input, output, cache_read}}}}}` (USD per million), keyed `provider/id` and bare `id`.
- `cost` / `digitalocean`: `GET https://api.digitalocean.com/v2/gen-ai/models/catalog` ->
  `data[].{model_id, pricing.{input_price_per_million, output_price_per_million,
  cache_read_input_price_per_million}}`; the values are per token and scaled by 1e6, as the original
  does. Keys `lowercase(creator)/model_id` and bare `model_id`.
- `latency` / `prometheus`: `GET {url}/api/v1/query?query=<query>` -> `data.result[]` with
  `metric.model_name` and `value[1]`.

`model_aliases` renames catalogue keys to the names used in `routing_preferences`. The first fetch
runs at startup (5 s connect / 30 s total); `refresh_interval` repeats it. A failed fetch is logged
and leaves the previous numbers in place: ranking then keeps the written order for unknown models.
These are rare, off-hot-path GETs through the worker's upstream transport.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final
from urllib.parse import urlencode

import orjson

from plano.access.pricing import parse_models_dev
from plano.config import Config
from plano.config.sections import CostMetricsSourceConfig, LatencyMetricsSourceConfig
from plano.errors import PlanoError
from plano.routing.preferences import ModelMetrics, Price
from plano.upstream.transport import Limits, Transport, exchange

log = logging.getLogger("plano.routing")

DEFAULT_URLS: Final = {
    "models.dev": "https://models.dev/api.json",
    "digitalocean": "https://api.digitalocean.com/v2/gen-ai/models/catalog",
}
_LIMITS: Final = Limits(total=30, connect=5)
_ACCEPT: Final = (("accept", "application/json"),)
Source = CostMetricsSourceConfig | LatencyMetricsSourceConfig


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None


def parse_digitalocean(doc: Any) -> dict[str, Price]:
    out: dict[str, Price] = {}
    items = doc.get("data") if isinstance(doc, dict) else None
    for item in items or ():
        if not isinstance(item, dict) or not isinstance(item.get("model_id"), str):
            continue
        pricing = item.get("pricing") or {}
        inp = _num(pricing.get("input_price_per_million"))
        outp = _num(pricing.get("output_price_per_million"))
        if inp is None or outp is None:
            continue
        cached = _num(
            pricing.get("cache_read_input_price_per_million", pricing.get("input_cache_read"))
        )
        price = Price(inp * 1e6, outp * 1e6, None if cached is None else cached * 1e6)
        creator = str(item.get("creator") or item.get("provider") or "").lower()
        if creator:
            out[f"{creator}/{item['model_id']}"] = price
        out.setdefault(item["model_id"], price)
    return out


def parse_prometheus(doc: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    result = (doc.get("data") or {}).get("result") if isinstance(doc, dict) else None
    for row in result or ():
        try:
            name = row["metric"]["model_name"]
            out[str(name)] = float(row["value"][1])
        except (KeyError, IndexError, TypeError, ValueError):
            continue
    return out


def _aliased(table: Mapping[str, Any], aliases: Mapping[str, str]) -> dict[str, Any]:
    out = dict(table)
    for key, target in aliases.items():
        if key in table:
            out[target] = table[key]
    return out


class MetricsFeeds:
    """Keeps a `ModelMetrics` filled from the configured sources."""

    def __init__(
        self, sources: Sequence[Source], metrics: ModelMetrics, transport: Transport | None
    ) -> None:
        self._sources = tuple(sources)
        self.metrics = metrics
        self._transport = transport
        self._tasks: list[asyncio.Task[None]] = []
        self._first: asyncio.Task[None] | None = None
        self.loaded = not self._sources  # the first fetch is over (or there is nothing to fetch)

    @classmethod
    def of(cls, config: Config, metrics: ModelMetrics, transport: Transport | None) -> MetricsFeeds:
        return cls(config.model_metrics_sources, metrics, transport)

    def start(self) -> None:
        """Start the first fetch (startup is not held up by it) and the refresh loops."""
        if not self._sources or self._first is not None:
            return
        if self._transport is None:
            log.warning("model_metrics_sources: no upstream transport; nothing is fetched")
            self.loaded = True
            return
        self._first = asyncio.ensure_future(self._fetch_all())
        for s in self._sources:
            if s.refresh_interval:
                self._tasks.append(asyncio.ensure_future(self._refresh(s, s.refresh_interval)))

    async def ready(self) -> None:
        """Wait for the first fetch (bounded by its timeouts); instant once it is over."""
        if not self.loaded and self._first is not None:
            await asyncio.shield(self._first)

    async def _fetch_all(self) -> None:
        try:
            await asyncio.gather(*(self._fetch(s) for s in self._sources))
        finally:
            self.loaded = True

    async def close(self) -> None:
        for t in (*self._tasks, *((self._first,) if self._first else ())):
            t.cancel()
        self._tasks.clear()
        self._first = None

    async def _refresh(self, source: Source, every: int) -> None:
        while True:
            await asyncio.sleep(every)
            await self._fetch(source)

    async def _fetch(self, source: Source) -> None:
        transport = self._transport
        assert transport is not None
        if isinstance(source, LatencyMetricsSourceConfig):
            url = f"{source.url.rstrip('/')}/api/v1/query?{urlencode({'query': source.query})}"
        else:
            url = source.url or DEFAULT_URLS[source.provider]
        try:
            async with exchange(transport, b"GET", url, _ACCEPT, b"", _LIMITS) as resp:
                data = await resp.read()
                if resp.status >= 400:
                    raise ValueError(f"status {resp.status}")
            doc = orjson.loads(data)
        except (PlanoError, ValueError) as exc:
            log.warning(
                "model_metrics_sources: %s %s fetch failed (%s); ranking keeps the written order"
                " for models without data",
                source.type,
                source.provider,
                type(exc).__name__ if isinstance(exc, PlanoError) else exc,
            )
            return
        if isinstance(source, LatencyMetricsSourceConfig):
            self.metrics.latency = parse_prometheus(doc)
            return
        parse = parse_models_dev if source.provider == "models.dev" else parse_digitalocean
        self.metrics.set_cost(_aliased(parse(doc), dict(source.model_aliases)))
