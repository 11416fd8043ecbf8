"""Routing preferences: named routes, each with a described intent and ranked candidate models.

Config preferences (`routing_preferences`, including the migrated inline provider form) are
compiled once at load. A request may carry its own list in the body (`routing_preferences`, the
same shape); it replaces the configured list for that request only and is removed before the body
is forwarded. Candidates are ranked by the route's `selection_policy`: `none` keeps the written
order, `cheapest` sorts by input + output price per million tokens, `fastest` by the latency
metric; models without data keep their order after the ones with data.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import orjson

from plano.access.pricing import ModelPrice, PriceTable
from plano.config import RoutingPreferenceConfig
from plano.errors import BadRequest

Prefer = Literal["none", "cheapest", "fastest"]
_PREFER: Final = frozenset({"none", "cheapest", "fastest"})


Price = ModelPrice  # USD per million tokens (`plano.access.pricing`, shared with cost accounting)


@dataclass(slots=True)
class ModelMetrics:
    """What the metrics sources know, keyed by model name (`provider/model` and bare id).

    `prices`, when set, is the cost meter's table (the config's prices); a cost source's fetch
    is fed into it too, and `price` then asks it, so routing and cost accounting agree."""

    cost: dict[str, Price] = field(default_factory=dict)
    latency: dict[str, float] = field(default_factory=dict)
    prices: PriceTable | None = None

    def price(self, model: str) -> Price | None:
        if self.prices is not None:
            return self.prices.price(model)
        return self.cost.get(model) or self.cost.get(model.partition("/")[2] or model)

    def set_cost(self, prices: dict[str, Price]) -> None:
        """A cost source's fetch."""
        self.cost = prices
        if self.prices is not None:
            self.prices.set_feed(prices)

    def latency_of(self, model: str) -> float | None:
        found = self.latency.get(model)
        return found if found is not None else self.latency.get(model.partition("/")[2] or model)


@dataclass(frozen=True, slots=True)
class Preference:
    name: str
    description: str
    models: tuple[str, ...]  # as written
    prefer: Prefer = "none"

    def ranked(self, metrics: ModelMetrics) -> tuple[str, ...]:
        if self.prefer == "none" or len(self.models) < 2:
            return self.models
        if self.prefer == "cheapest":
            keyed = [(_cost(metrics.price(m)), m) for m in self.models]
        else:
            keyed = [(metrics.latency_of(m), m) for m in self.models]
        known = sorted(((k, i, m) for i, (k, m) in enumerate(keyed) if k is not None))
        unknown = [m for k, m in keyed if k is None]
        return tuple(m for _, _, m in known) + tuple(unknown)


def _cost(p: Price | None) -> float | None:
    return None if p is None else p.input_per_mtok + p.output_per_mtok


@dataclass(frozen=True, slots=True)
class PreferenceSet:
    """An ordered list of routes with lookups and the router prompt's `{routes}` text."""

    routes: tuple[Preference, ...]
    by_name: Mapping[str, Preference]
    routes_text: str  # one JSON object per line, spaced as the original's router prompt

    @classmethod
    def of(cls, routes: Sequence[Preference]) -> PreferenceSet:
        by_name: dict[str, Preference] = {}
        for r in routes:
            by_name.setdefault(r.name, r)
        text = "\n".join(_route_line(r) for r in routes)
        return cls(tuple(routes), by_name, text)

    def __bool__(self) -> bool:
        return bool(self.routes)


def _route_line(r: Preference) -> str:
    # `{"name": "...", "description": "...", "parameters": {...}}` with ", " and ": " spacing.
    name = orjson.dumps(r.name).decode()
    desc = orjson.dumps(r.description).decode()
    params = '{"type": "object", "properties": {}, "required": []}'
    return f'{{"name": {name}, "description": {desc}, "parameters": {params}}}'


def from_config(prefs: Sequence[RoutingPreferenceConfig]) -> PreferenceSet:
    return PreferenceSet.of(
        [
            Preference(
                p.name,
                p.description,
                p.models,
                p.selection_policy.prefer if p.selection_policy else "none",
            )
            for p in prefs
        ]
    )


def from_request(raw: Any) -> PreferenceSet:
    """Inline preferences from a request body; a malformed list is the client's error (400)."""
    if not isinstance(raw, list):
        raise BadRequest("`routing_preferences` must be a list", param="routing_preferences")
    out: list[Preference] = []
    for i, item in enumerate(raw):
        where = f"routing_preferences[{i}]"
        if not isinstance(item, dict):
            raise BadRequest(f"{where} must be an object", param="routing_preferences")
        name, desc, models = item.get("name"), item.get("description"), item.get("models")
        if not isinstance(name, str) or not name or not isinstance(desc, str):
            raise BadRequest(
                f"{where} needs a `name` and a `description` (strings)",
                param="routing_preferences",
            )
        if (
            not isinstance(models, list)
            or not models
            or not all(isinstance(m, str) and m for m in models)
        ):
            raise BadRequest(
                f"{where}.models must be a non-empty list of model names",
                param="routing_preferences",
            )
        out.append(Preference(name, desc, tuple(models), _prefer(item.get("selection_policy"))))
    return PreferenceSet.of(out)


def _prefer(policy: Any) -> Prefer:
    if policy is None:
        return "none"
    prefer = policy.get("prefer") if isinstance(policy, dict) else None
    if prefer not in _PREFER:
        raise BadRequest(
            "selection_policy.prefer must be one of cheapest, fastest, none",
            param="routing_preferences",
        )
    return prefer  # type: ignore[no-any-return]
