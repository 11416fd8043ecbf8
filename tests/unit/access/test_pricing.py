from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plano.access.pricing import (
    ModelPrice,
    PriceTable,
    RequestCost,
    UsageCounts,
    cost_of,
    parse_models_dev,
)

CATALOGUE = {
    "anthropic": {
        "models": {
            "claude-sonnet-4": {
                "cost": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}
            },
            "no-price": {"name": "x"},
        }
    },
    "openai": {"models": {"gpt-4o": {"cost": {"input": 2.5, "output": 10, "cache_read": 1.25}}}},
    "broken": "not a provider",
}


def test_models_dev_keys_provider_and_bare_id() -> None:
    table = parse_models_dev(CATALOGUE)
    assert table["anthropic/claude-sonnet-4"] == ModelPrice(3.0, 15.0, 0.3, 3.75)
    assert table["gpt-4o"] == ModelPrice(2.5, 10.0, 1.25, None)
    assert "anthropic/no-price" not in table


def test_cost_splits_cache_reads_and_writes() -> None:
    table = PriceTable(parse_models_dev(CATALOGUE))
    usage = UsageCounts(prompt=10_000, completion=2_000, cache_read=6_000, cache_write=1_000)
    cost = table.cost("anthropic/claude-sonnet-4", usage)
    assert cost is not None
    assert cost.input_usd == pytest.approx(3_000 * 3 / 1e6)
    assert cost.cache_read_usd == pytest.approx(6_000 * 0.3 / 1e6)
    assert cost.cache_write_usd == pytest.approx(1_000 * 3.75 / 1e6)
    assert cost.output_usd == pytest.approx(2_000 * 15 / 1e6)
    assert cost.total_usd == pytest.approx(sum(cost.as_tuple()[:4]))


def test_missing_cache_price_is_the_input_price() -> None:
    price = ModelPrice(2.0, 8.0)
    cost = cost_of(price, UsageCounts(prompt=100, completion=0, cache_read=40, cache_write=10))
    assert cost.total_usd == pytest.approx(100 * 2.0 / 1e6)


def test_fixed_prices_win_over_the_feed_and_bare_ids_fall_back() -> None:
    table = PriceTable({"acme/private": ModelPrice(1.0, 2.0)}, parse_models_dev(CATALOGUE))
    assert table.price("acme/private") == ModelPrice(1.0, 2.0)
    assert table.price("azure/gpt-4o") == ModelPrice(2.5, 10.0, 1.25)  # bare id fallback
    assert table.price("nobody/unknown") is None
    assert table.cost("nobody/unknown", UsageCounts(1, 1)) is None
    table.set_feed({"gpt-4o": ModelPrice(9.0, 9.0)})
    assert table.price("openai/gpt-4o") == ModelPrice(9.0, 9.0)
    table2 = PriceTable({"openai/gpt-4o": ModelPrice(1.0, 1.0)}, parse_models_dev(CATALOGUE))
    assert table2.price("openai/gpt-4o") == ModelPrice(1.0, 1.0)


def test_estimate_is_an_upper_bound_of_the_cost() -> None:
    table = PriceTable(parse_models_dev(CATALOGUE))
    est = table.estimate("anthropic/claude-sonnet-4", 1_000, 500)
    assert est == pytest.approx((1_000 * 3 + 500 * 15) / 1e6)
    cost = table.cost("anthropic/claude-sonnet-4", UsageCounts(1_000, 500, 200, 0))
    assert cost is not None and cost.total_usd <= est
    assert table.estimate("nobody/unknown", 1_000, 500) == 0.0


def test_costs_add() -> None:
    a = RequestCost(1.0, 2.0, 3.0, 4.0, 10.0)
    assert (a + a).as_tuple() == (2.0, 4.0, 6.0, 8.0, 20.0)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=20,
)


@given(json_values)
def test_models_dev_parser_takes_any_json(doc: Any) -> None:
    for price in parse_models_dev(doc).values():
        assert isinstance(price.input_per_mtok, float)


@given(
    st.integers(0, 10**7),
    st.integers(0, 10**7),
    st.integers(0, 10**7),
    st.integers(0, 10**7),
)
def test_cost_is_never_negative_and_bounded_by_the_estimate(
    prompt: int, completion: int, read: int, write: int
) -> None:
    price = ModelPrice(3.0, 15.0, 0.3, 3.75)
    cost = cost_of(price, UsageCounts(prompt, completion, read, write))
    assert min(cost.as_tuple()) >= 0.0
    if read + write <= prompt:
        bound = PriceTable({"m": price}).estimate("m", prompt + write, completion)
        assert cost.total_usd <= bound + 1e-12
