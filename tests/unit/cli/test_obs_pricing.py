"""`plano obs` prices: a config's prices, and a models.dev catalogue from a file or URL."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest

from plano.access.pricing import PriceTable
from plano.cli.obs import _feed_models_dev, _Source, _table_pricer, config_prices
from plano.tracecollector.calls import CallBook, Usage

CATALOGUE = {"openai": {"models": {"gpt-4o-mini": {"cost": {"input": 0.15, "output": 0.6}}}}}


def span(model: str) -> dict[str, object]:
    return {
        "trace_id": "ab" * 16,
        "span_id": "cd" * 8,
        "parent_span_id": "",
        "name": "POST /v1/chat/completions",
        "kind": "server",
        "service": "plano(llm)",
        "start_ns": 0,
        "end_ns": 10**9,
        "status": "unset",
        "status_message": "",
        "attributes": {
            "llm.model": model,
            "llm.usage.prompt_tokens": 1_000_000,
            "llm.usage.completion_tokens": 1_000_000,
        },
        "events": [],
    }


def test_models_dev_from_a_file_prices_the_calls(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps(CATALOGUE))
    book, source = CallBook(), _Source("")
    _feed_models_dev(book, PriceTable(), str(path), source)
    book.add_spans([span("openai/gpt-4o-mini"), span("openai/unknown")])
    rows = {r["model"]: r for r in book.snapshot()["by_model"]}
    assert rows["openai/gpt-4o-mini"]["cost_usd"] == pytest.approx(0.75)
    assert rows["openai/unknown"]["cost_usd"] is None
    assert "models.dev (2 entries)" in source.text


def test_an_unreachable_catalogue_is_said_and_spans_keep_their_costs(tmp_path: Path) -> None:
    book, source = CallBook(), _Source("")
    _feed_models_dev(book, PriceTable(), str(tmp_path / "missing.json"), source)
    assert "models.dev unavailable" in source.text


def test_a_bare_model_is_looked_up_with_its_provider() -> None:
    from plano.access.pricing import ModelPrice

    price = _table_pricer(PriceTable({"openai/gpt-4o": ModelPrice(1.0, 2.0)}))
    assert price("gpt-4o", "openai", Usage(1_000_000, 0, 0, 0)) == pytest.approx(1.0)
    assert price("gpt-4o", "", Usage(1, 0, 0, 0)) is None


def test_a_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("version: v0.4.0\nlisteners: nope\n")
    with pytest.raises(click.ClickException, match=r"c\.yaml"):
        config_prices(str(path))
    assert not config_prices(None)
