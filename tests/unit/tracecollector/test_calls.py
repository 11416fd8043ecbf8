"""`plano obs`'s calls: what a span says about an LLM call, and the rollups."""

from __future__ import annotations

from typing import Any

import pytest

from plano.tracecollector.calls import CallBook, Usage, call_from_span, percentile

NS = 1_000_000


def span(model: str | None = "openai/gpt-4o", **attrs: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"http.status_code": 200}
    if model is not None:
        base["llm.model"] = model
    base.update(attrs)
    return {
        "trace_id": "ab" * 16,
        "span_id": "cd" * 8,
        "parent_span_id": "",
        "name": "POST /v1/chat/completions",
        "kind": "server",
        "service": "plano(llm)",
        "start_ns": 1_000 * NS,
        "end_ns": 1_900 * NS,
        "status": "unset",
        "status_message": "",
        "attributes": base,
        "events": [],
    }


def test_a_span_without_a_model_is_not_a_call() -> None:
    assert call_from_span(span(None)) is None


def test_stream_call_times_and_span_cost() -> None:
    call = call_from_span(
        span(
            **{
                "llm.duration_ms": 1100,
                "llm.time_to_first_token": 100,
                "llm.is_streaming": True,
                "llm.usage.prompt_tokens": 40,
                "llm.usage.completion_tokens": 50,
                "llm.usage.cached_input_tokens": 10,
                "llm.usage.total_cost_usd": 0.25,
                "plano.route.name": "code",
            }
        ),
        price=lambda *_: pytest.fail("the span's own cost wins"),
    )
    assert call is not None
    assert call.tpot_ms == 20.0  # (1100 - 100) / 50
    assert call.tokens_per_s == 50.0  # 50 tokens in 1 s after the first
    assert (call.cost_usd, call.route, call.cached_tokens, call.stream) == (0.25, "code", 10, True)


def test_the_price_table_costs_a_call_the_gateway_did_not_price() -> None:
    seen: list[tuple[str, str, Usage]] = []

    def price(model: str, provider: str, usage: Usage) -> float:
        seen.append((model, provider, usage))
        return 1.5

    call = call_from_span(
        span(**{"llm.provider": "openai", "llm.usage.prompt_tokens": 3}), price=price
    )
    assert call is not None and call.cost_usd == 1.5
    assert seen == [("openai/gpt-4o", "openai", Usage(3, 0, 0, 0))]
    assert call.duration_ms == 900.0  # no llm.duration_ms: the span's own duration
    assert call.ttft_ms is None and call.tpot_ms is None


def test_errors_and_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([5.0, 1.0, 3.0, 2.0, 4.0], 50) == 3.0
    assert percentile([float(v) for v in range(1, 101)], 95) == 95.0
    book = CallBook(capacity=2)
    book.add_spans([span(**{"http.status_code": 502}), span("anthropic/claude"), span()])
    snap = book.snapshot()
    assert snap["summary"]["received"] == 3 and snap["summary"]["kept"] == 2
    rows = {r["model"]: r for r in snap["by_model"]}
    assert rows["openai/gpt-4o"]["errors"] == 0  # the 502 call is no longer kept
    assert snap["summary"]["cost_usd"] is None and snap["summary"]["unpriced_calls"] == 2
    assert book.wait_for(3, timeout=0)


def test_the_view_shows_the_panels() -> None:
    from rich.console import Console

    from plano.cli.obs_view import render

    book = CallBook(price=lambda *_: 0.000123)
    book.add_spans(
        [
            span(
                "openai/gpt-4o",
                **{
                    "llm.usage.prompt_tokens": 1200,
                    "llm.usage.completion_tokens": 30,
                    "plano.route.name": "code",
                },
            )
        ]
    )
    console = Console(width=160, record=True, color_system=None)
    console.print(render(book.snapshot(), "prices: test"))
    text = console.export_text()
    for shown in ("By model", "Route share", "Recent calls", "openai/gpt-4o", "code", "1,200"):
        assert shown in text
    assert "$0.000123" in text and "100%" in text and "prices: test" in text
