"""Session bindings and the routing budget (the cost gate on model switches).

A binding remembers which model a session is anchored to. While it is warm (used within the
session TTL, same requested model, same prompt prefix):

- an explicit session (`X-Model-Affinity`) is pinned: the router is skipped and the anchor serves
  (what the original's docs promise; its code only sticks through the budget);
- with `route_on_user_only`, a turn that is not the user's own (tool results, harness notes)
  replays the anchor without asking the router;
- with a routing budget, the router runs and a switch away from the anchor is allowed only while
  the spend on switches stays within `max_switch_spend_pct` of the baseline (what the session would
  have paid for cache reads had it stayed on the anchor).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Final

from plano.observability import names as n
from plano.routing.preferences import ModelMetrics

MILLION: Final = 1_000_000
HISTORY: Final = 8  # models remembered per session, most recent last


@dataclass(slots=True)
class Binding:
    anchor_model: str
    requested_model: str  # the lane: the model the client asked for
    route_name: str | None
    prefix_hash: str
    last_used: float  # epoch seconds
    baseline_usd: float = 0.0
    switch_spend_usd: float = 0.0
    switches: int = 0
    cached_tokens: int = 0  # the upstream's prompt tokens on the anchor's last turn
    # Recently used models: [model, last_used, prompt tokens] (their caches may still be warm).
    history: list[list[Any]] = field(default_factory=list)

    def note_turn(self, model: str, now: float, tokens: int) -> None:
        """A turn served by `model` with `tokens` prompt tokens (now cached there)."""
        self.history = [h for h in self.history if h[0] != model][-(HISTORY - 1) :]
        self.history.append([model, now, tokens])
        if model == self.anchor_model:
            self.cached_tokens = tokens

    def warm_tokens(self, model: str, now: float, window: float) -> int:
        """Prompt tokens still cached at `model` from an earlier turn (A -> B -> A credit)."""
        for name, used, tokens in self.history:
            if name == model and now - float(used) <= window:
                return int(tokens)
        return 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Binding | None:
        try:
            return cls(
                anchor_model=str(raw["anchor_model"]),
                requested_model=str(raw.get("requested_model") or ""),
                route_name=raw.get("route_name"),
                prefix_hash=str(raw.get("prefix_hash") or ""),
                last_used=float(raw["last_used"]),
                baseline_usd=float(raw.get("baseline_usd") or 0.0),
                switch_spend_usd=float(raw.get("switch_spend_usd") or 0.0),
                switches=int(raw.get("switches") or 0),
                cached_tokens=int(raw.get("cached_tokens") or 0),
                history=[list(h) for h in raw.get("history") or () if len(h) == 3],
            )
        except (KeyError, TypeError, ValueError):
            return None

    def warm(self, now: float, ttl: float, requested: str, prefix: str) -> bool:
        return (
            now - self.last_used <= ttl
            and self.requested_model == requested
            and self.prefix_hash == prefix
        )


@dataclass(frozen=True, slots=True)
class GateResult:
    allow: bool
    reason: str  # same_anchor, no_pricing, free, within_cap, over_cap
    cost_usd: float = 0.0


def parse_pct(value: str | None) -> float | None:
    """The `x-plano-max-switch-spend-pct` header: 0–100, fractional ok; invalid is ignored."""
    if value is None:
        return None
    try:
        pct = float(value)
    except ValueError:
        return None
    return pct if 0.0 <= pct <= 100.0 else None


def cached_rate(metrics: ModelMetrics, model: str, discount: float) -> float | None:
    price = metrics.price(model)
    if price is None:
        return None
    read = price.cache_read_per_mtok
    return read if read is not None else price.input_per_mtok * discount


def grow_baseline(b: Binding, metrics: ModelMetrics, context_tokens: int, discount: float) -> None:
    """Each warm turn adds what re-reading the context from the anchor's cache would cost."""
    rate = cached_rate(metrics, b.anchor_model, discount)
    if rate is not None:
        b.baseline_usd += context_tokens * rate / MILLION


def gate(
    b: Binding,
    candidate: str,
    metrics: ModelMetrics,
    *,
    context_tokens: int,
    pct: float,
    discount: float,
    candidate_warm_tokens: int = 0,
) -> GateResult:
    """May a warm session switch from its anchor to `candidate`? Updates the spend if allowed.

    Switch cost (USD) = (fresh tokens at the candidate's input price + tokens still cached at the
    candidate at its cache-read price − the context at the anchor's cache-read price) / 1e6.
    """
    if candidate == b.anchor_model:
        return GateResult(True, "same_anchor")
    cand = metrics.price(candidate)
    anchor_cached = cached_rate(metrics, b.anchor_model, discount)
    cand_cached = cached_rate(metrics, candidate, discount)
    if cand is None or anchor_cached is None or cand_cached is None:
        return GateResult(True, "no_pricing")
    warm = min(candidate_warm_tokens, context_tokens)
    fresh = (context_tokens - warm) * cand.input_per_mtok
    cost = (fresh + warm * cand_cached - context_tokens * anchor_cached) / MILLION
    if cost <= 0:
        return GateResult(True, "free", cost)
    if b.switch_spend_usd + cost <= pct / 100.0 * b.baseline_usd:
        b.switch_spend_usd += cost
        return GateResult(True, "within_cap", cost)
    return GateResult(False, "over_cap", cost)


def budget_attributes(b: Binding, result: GateResult, pct: float, now: float) -> dict[str, Any]:
    """The original's span attributes for one budget-gate decision on a warm session."""
    return {
        n.ATTR_CACHE_WARM: True,
        n.ATTR_CACHE_IDLE_MS: int(max(now - b.last_used, 0.0) * 1000),
        n.ATTR_SESSION_OVERHEAD_PCT: pct,
        n.ATTR_SESSION_SWITCH_SPEND: round(b.switch_spend_usd, 9),
        n.ATTR_SESSION_BASELINE: round(b.baseline_usd, 9),
        n.ATTR_SESSION_SWITCHES: b.switches,
        n.ATTR_SWITCH_COST: round(result.cost_usd, 9),
        n.ATTR_SWITCH_CEILING: round(pct / 100.0 * b.baseline_usd, 9),
        n.ATTR_SWITCH_DECISION: "allowed" if result.allow else "retained",
    }
