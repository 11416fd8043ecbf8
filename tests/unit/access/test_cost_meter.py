from __future__ import annotations

import pytest

from plano.access.cost import CostMeter, build_prices
from plano.access.pricing import ModelPrice, PriceTable
from plano.config import ConfigError, load_config_text
from plano.observability.record import RequestRecord

TABLE = PriceTable(
    {
        "openai/gpt-4o": ModelPrice(2.5, 10.0, 1.25),
        "anthropic/claude": ModelPrice(3.0, 15.0, 0.3, 3.75),
    }
)


def record(model: str | None = "openai/gpt-4o") -> RequestRecord:
    r = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    r.model = model
    return r


def test_settle_prices_the_answering_attempt_and_notifies() -> None:
    meter, seen = CostMeter(TABLE), []
    meter.subscribe(lambda r: seen.append(r.cost_usd))
    r = record()
    r.note_usage(1000, 100, 200)
    meter.settle(r)
    want = (800 * 2.5 + 200 * 1.25 + 100 * 10) / 1e6
    assert r.cost_usd == pytest.approx(want)
    assert r.cost is not None and r.cost[4] == pytest.approx(want)
    assert seen == [r.cost_usd]


def test_no_usage_or_no_price_leaves_the_cost_unset_but_still_notifies() -> None:
    meter, seen = CostMeter(TABLE), []
    meter.subscribe(lambda r: seen.append(r.cost_usd))
    r = record()
    meter.settle(r)
    unpriced = record("openai/other")
    unpriced.note_usage(10, 10, None)
    meter.settle(unpriced)
    assert r.cost_usd is None and unpriced.cost_usd is None
    assert seen == [None, None]


def test_each_billed_attempt_is_priced_on_its_own_model() -> None:
    meter = CostMeter(TABLE)
    r = record("anthropic/claude")  # the fallback that finished the stream
    r.note_usage(1100, 150, None)  # what the client saw: both attempts together
    r.note_billed("openai/gpt-4o", 1000, 50)
    r.note_billed("anthropic/claude", 100, 100, 0, 40)
    meter.settle(r)
    primary = (1000 * 2.5 + 50 * 10) / 1e6
    fallback = (60 * 3.0 + 40 * 3.75 + 100 * 15) / 1e6
    assert r.cost_usd == pytest.approx(primary + fallback)


def test_a_failing_subscriber_does_not_fail_the_request(caplog: pytest.LogCaptureFixture) -> None:
    meter = CostMeter(TABLE)

    def broken(r: RequestRecord) -> None:
        raise RuntimeError("bug")

    meter.subscribe(broken)
    r = record()
    r.note_usage(1, 1, None)
    meter.settle(r)
    assert r.cost_usd is not None
    assert "cost subscriber" in caplog.text


CONFIG = """
version: v0.4.0
listeners: [{name: llm, type: model, port: 12000}]
model_providers:
  - model: openai/gpt-4o
    access_key: k
    pricing: {input_per_mtok: 1, output_per_mtok: 2, cache_read_per_mtok: 0.5}
  - model: acme/private
    base_url: http://127.0.0.1:9
    provider_interface: openai
pricing:
  models:
    acme/private: {input_per_mtok: 0.25, output_per_mtok: 0.75}
"""


def test_config_prices() -> None:
    prices = build_prices(load_config_text(CONFIG, source="t.yaml"))
    assert prices.price("openai/gpt-4o") == ModelPrice(1.0, 2.0, 0.5, None)
    assert prices.price("acme/private") == ModelPrice(0.25, 0.75)


@pytest.mark.parametrize(
    ("bad", "where"),
    [
        ("pricing: {file: /nonexistent/prices.json}", "pricing.file"),
        ("pricing: {models: {x: {input_per_mtok: -1, output_per_mtok: 1}}}", "pricing.models"),
        ("pricing: {models: {x: {input_per_mtok: 1}}}", "pricing.models"),
        ("pricing: {source: url}", "pricing"),
    ],
)
def test_bad_pricing_is_a_config_error(bad: str, where: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text(CONFIG.split("pricing:\n", maxsplit=1)[0] + bad + "\n", source="t.yaml")
    assert any(p.path.startswith(where) for p in info.value.problems), info.value.problems


SNAPSHOT_CONFIG = """
version: v0.4.0
listeners: [{name: llm, type: model, port: 12000}]
model_providers:
  - {model: openai/gpt-4o-mini, access_key: k, default: true}
  - {model: anthropic/claude-sonnet-4-20250514, access_key: k}
  - {model: openai/gpt-4o, access_key: k, pricing: {input_per_mtok: 1, output_per_mtok: 2}}
  - model: acme/private-model
    access_key: k
    base_url: "http://127.0.0.1:9"
    provider_interface: openai
"""


def test_the_bundled_snapshot_bills_well_known_models_with_no_config() -> None:
    table = build_prices(load_config_text(SNAPSHOT_CONFIG))
    meter = CostMeter(table)
    mini = record("openai/gpt-4o-mini")
    mini.note_usage(1_000_000, 1_000_000, None)
    meter.settle(mini)
    assert mini.cost_usd == pytest.approx(0.15 + 0.6)  # the snapshot's price
    sonnet = record("anthropic/claude-sonnet-4-20250514")  # a dated id: the snapshot's alias
    sonnet.note_usage(1_000_000, 0, None)
    meter.settle(sonnet)
    assert sonnet.cost_usd == pytest.approx(3.0)
    configured = record("openai/gpt-4o")  # the config's price wins over the snapshot's
    configured.note_usage(1_000_000, 1_000_000, None)
    meter.settle(configured)
    assert configured.cost_usd == pytest.approx(3.0)
    private = record("acme/private-model")
    private.note_usage(10, 10, None)
    meter.settle(private)
    assert private.cost_usd is None
    # Billing only: routing (`prefer: cheapest`) sees the prices it was given, no more.
    assert table.price("openai/gpt-4o-mini") is None
    assert list(table) == ["openai/gpt-4o"]


def test_the_snapshot_can_be_turned_off() -> None:
    config = load_config_text(SNAPSHOT_CONFIG + "pricing: {snapshot: false}\n")
    assert build_prices(config).billed("openai/gpt-4o-mini") is None
