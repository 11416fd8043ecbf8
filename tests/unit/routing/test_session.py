from __future__ import annotations

import pytest

from plano.routing.preferences import ModelMetrics, Price
from plano.routing.session import Binding, gate, grow_baseline, parse_pct

METRICS = ModelMetrics(
    cost={
        "anchor": Price(3.0, 15.0, 0.3),
        "cheap": Price(0.1, 0.4),
        "pricey": Price(15.0, 75.0),
    }
)


def binding(**kw: object) -> Binding:
    return Binding("anchor", "req", "r", "p", 0.0, **kw)  # type: ignore[arg-type]


def test_switch_cheaper_than_cache_is_free() -> None:
    # 0.1/M fresh input on the candidate is below 0.3/M cached on the anchor.
    assert gate(
        binding(), "cheap", METRICS, context_tokens=10_000, pct=10, discount=0.1
    ).reason == ("free")


def test_over_cap_retains_then_within_cap_after_baseline_grows() -> None:
    b = binding()
    first = gate(b, "pricey", METRICS, context_tokens=1000, pct=50, discount=0.1)
    assert (first.allow, first.reason) == (False, "over_cap")
    for _ in range(200):  # long warm session: the baseline of cache reads grows
        grow_baseline(b, METRICS, 1000, 0.1)
    second = gate(b, "pricey", METRICS, context_tokens=1000, pct=50, discount=0.1)
    assert (second.allow, second.reason) == (True, "within_cap")
    assert b.switch_spend_usd == pytest.approx(second.cost_usd)
    assert second.cost_usd == pytest.approx((1000 * 15.0 - 1000 * 0.3) / 1e6)


def test_missing_pricing_allows() -> None:
    assert gate(binding(), "unknown", METRICS, context_tokens=1, pct=0, discount=0.1).reason == (
        "no_pricing"
    )


def test_same_model() -> None:
    assert gate(binding(), "anchor", METRICS, context_tokens=1, pct=0, discount=0.1).reason == (
        "same_anchor"
    )


@pytest.mark.parametrize(("raw", "pct"), [("10", 10.0), ("2.5", 2.5), ("101", None), ("x", None)])
def test_parse_pct(raw: str, pct: float | None) -> None:
    assert parse_pct(raw) == pct


def test_binding_roundtrip_and_warmth() -> None:
    b = binding(switches=2)
    again = Binding.from_json(b.to_json())
    assert again == b
    assert b.warm(30.0, 60, "req", "p")
    assert not b.warm(61.0, 60, "req", "p")
    assert not b.warm(1.0, 60, "other", "p")
    assert not b.warm(1.0, 60, "req", "drifted")
    assert Binding.from_json({"nope": 1}) is None


def test_history_credit_makes_switching_back_cheaper() -> None:
    b = binding()
    cold = gate(b, "pricey", METRICS, context_tokens=10_000, pct=100, discount=0.1)
    b.note_turn("pricey", 100.0, 10_000)  # the session used `pricey` a moment ago
    assert b.warm_tokens("pricey", 150.0, 60) == 10_000
    assert b.warm_tokens("pricey", 200.0, 60) == 0  # its cache went cold
    back = gate(
        b, "pricey", METRICS, context_tokens=10_000, pct=100, discount=0.1,
        candidate_warm_tokens=b.warm_tokens("pricey", 150.0, 60),
    )  # fmt: skip
    assert back.cost_usd < cold.cost_usd
    assert back.cost_usd == pytest.approx((10_000 * 15.0 * 0.1 - 10_000 * 0.3) / 1e6)


def test_note_turn_keeps_eight_models_and_anchor_tokens() -> None:
    b = binding()
    for i in range(10):
        b.note_turn(f"m{i}", float(i), i)
    b.note_turn("anchor", 20.0, 1234)
    assert len(b.history) == 8 and b.history[-1] == ["anchor", 20.0, 1234]
    assert b.cached_tokens == 1234
    assert Binding.from_json(b.to_json()) == b
