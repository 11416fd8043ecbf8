from __future__ import annotations

import pytest

from plano.routing.metrics_sources import parse_digitalocean, parse_models_dev, parse_prometheus
from plano.routing.preferences import Price


def test_models_dev() -> None:
    doc = {
        "openai": {
            "models": {"gpt-4o": {"cost": {"input": 2.5, "output": 10, "cache_read": 1.25}}}
        },
        "broken": {"models": {"x": {"cost": {"input": "n/a"}}}},
    }
    table = parse_models_dev(doc)
    assert table["openai/gpt-4o"] == Price(2.5, 10.0, 1.25)
    assert table["gpt-4o"] == table["openai/gpt-4o"]
    assert "broken/x" not in table


def test_digitalocean_prices_are_per_token() -> None:
    doc = {
        "data": [
            {
                "model_id": "llama3.3-70b-instruct",
                "creator": "Meta",
                "pricing": {
                    "input_price_per_million": 0.00000065,
                    "output_price_per_million": 0.00000065,
                },
            },
            {"model_id": "no-pricing"},
        ]
    }
    table = parse_digitalocean(doc)
    price = table["meta/llama3.3-70b-instruct"]
    assert price.input_per_mtok == pytest.approx(0.65) and price.cache_read_per_mtok is None
    assert "no-pricing" not in table


def test_prometheus_vector() -> None:
    doc = {
        "data": {
            "result": [
                {"metric": {"model_name": "openai/gpt-4o"}, "value": [1, "0.25"]},
                {"metric": {}, "value": [1, "9"]},
                {"metric": {"model_name": "x"}, "value": [1, "NaN?"]},
            ]
        }
    }
    assert parse_prometheus(doc) == {"openai/gpt-4o": 0.25}
