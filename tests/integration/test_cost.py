"""Cost accounting end to end: the official SDKs drive a real gateway whose fake upstream reports
scripted usage (cached reads, cache writes); the cost on the span (encoded as OTLP and decoded
back), in the JSON access log and in Prometheus must match the price table, computed here from
the prices written in the test and the usage the upstream returned."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from prometheus_client.exposition import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from plano.observability import names as n
from plano.observability.access_log import AccessLog
from plano.observability.metrics import build_metrics
from plano.observability.otel_spans import OtelTracing
from plano.observability.otlp_encoding import OtlpEncoder
from plano.observability.span_render import PendingSpan, render_span
from plano.observability.telemetry import Telemetry
from plano.tracecollector.store import spans_from_request

# USD per million tokens, as models.dev writes them.
CATALOGUE = {
    "openai": {"models": {"gpt-4o": {"cost": {"input": 2.5, "output": 10, "cache_read": 1.25}}}},
    "anthropic": {
        "models": {
            "claude-sonnet-4": {
                "cost": {"input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}
            }
        }
    },
}
PRIVATE = {"input": 0.5, "output": 1.5}  # model_providers[].pricing of acme-private


def expected(
    price: dict[str, float], prompt: int, completion: int, read: int = 0, write: int = 0
) -> float:
    """The bill, from the prices above: uncached input, cache reads, cache writes, output."""
    cr = price.get("cache_read", price["input"])
    cw = price.get("cache_write", price["input"])
    fresh = prompt - read - write
    return (fresh * price["input"] + read * cr + write * cw + completion * price["output"]) / 1e6


class Spans:
    """The tracing sink's queue: spans rendered and decoded as the receiver would."""

    def __init__(self) -> None:
        self.items: list[tuple[str | None, bytes]] = []

    def add(self, service: str | None, span: bytes | PendingSpan) -> None:
        self.items.append((service, render_span(span)))

    def decoded(self) -> list[dict[str, Any]]:
        request = ExportTraceServiceRequest()
        batch = OtlpEncoder().encode_batch(Resource({"service.name": "plano"}), None, self.items)
        request.ParseFromString(batch)
        return spans_from_request(request)


def config(upstream: Any, prices: Path) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
model_providers:
  - model: openai/gpt-4o
    access_key: k
    base_url: {upstream.base_url}
    default: true
  - model: anthropic/claude-sonnet-4
    access_key: k
    base_url: {upstream.base_url}
  - model: openai/acme-private
    access_key: k
    base_url: {upstream.base_url}
    pricing: {{input_per_mtok: {PRIVATE["input"]}, output_per_mtok: {PRIVATE["output"]}}}
  - model: openai/unpriced-model
    access_key: k
    base_url: {upstream.base_url}
pricing:
  file: {prices}
"""


@pytest.fixture
def prices(tmp_path: Path) -> Path:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(CATALOGUE))
    return path


def cost_samples(text: str) -> dict[tuple[str, str], float]:
    out: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == n.METRIC_COST:
                assert s.labels["key"] == "" and s.labels["team"] == ""
                out[(s.labels["provider"], s.labels["model"])] = s.value
    return out


def test_cost_on_spans_logs_and_metrics(upstream: Any, gateway: Any, prices: Path) -> None:
    spans, log = Spans(), io.StringIO()
    metrics = build_metrics()
    telemetry = Telemetry(
        metrics=metrics, tracing=OtelTracing(spans), records=[AccessLog("json", log)]
    )
    gpt = CATALOGUE["openai"]["models"]["gpt-4o"]["cost"]
    claude = CATALOGUE["anthropic"]["models"]["claude-sonnet-4"]["cost"]
    bills: list[float | None] = []
    with (
        gateway(config(upstream, prices), telemetry=telemetry) as gw,
        openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="c", max_retries=0) as oa,
        anthropic.Anthropic(base_url=gw.url(), api_key="c", max_retries=0) as ant,
    ):
        hi: Any = [{"role": "user", "content": "what does this cost?"}]

        upstream.script(
            {"usage": {"prompt_tokens": 1000, "completion_tokens": 200}, "cached_tokens": 400}
        )
        oa.chat.completions.create(model="gpt-4o", messages=hi)
        bills.append(expected(gpt, 1000, 200, read=400))

        upstream.script(
            {"usage": {"prompt_tokens": 500, "completion_tokens": 50}, "cached_tokens": 100}
        )
        stream = oa.chat.completions.create(
            model="gpt-4o",
            messages=hi,
            stream=True,
            stream_options={"include_usage": True},
        )
        assert next(c.usage for c in stream if c.usage).prompt_tokens == 500
        bills.append(expected(gpt, 500, 50, read=100))

        usage = {"prompt_tokens": 2000, "completion_tokens": 300}
        upstream.script({"usage": usage, "cached_tokens": 1200, "cache_write_tokens": 500})
        msg = ant.messages.create(model="anthropic/claude-sonnet-4", max_tokens=400, messages=hi)
        assert msg.usage.cache_read_input_tokens == 1200
        bills.append(expected(claude, 2000, 300, read=1200, write=500))

        usage = {"prompt_tokens": 800, "completion_tokens": 40}
        upstream.script({"usage": usage, "cached_tokens": 600, "cache_write_tokens": 100})
        with ant.messages.stream(
            model="anthropic/claude-sonnet-4", max_tokens=400, messages=hi
        ) as s:
            final = s.get_final_message()
        assert final.usage.cache_creation_input_tokens == 100
        bills.append(expected(claude, 800, 40, read=600, write=100))

        upstream.script({"usage": {"prompt_tokens": 100, "completion_tokens": 10}})
        oa.chat.completions.create(model="acme-private", messages=hi)
        bills.append(expected(PRIVATE, 100, 10))

        upstream.script({"usage": {"prompt_tokens": 100, "completion_tokens": 10}})
        oa.chat.completions.create(model="unpriced-model", messages=hi)
        bills.append(None)
    # The gateway has stopped: every sink has flushed.
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    assert [line["cost_usd"] for line in lines] == pytest.approx(bills)
    llm_spans = [s for s in spans.decoded() if n.ATTR_LLM_MODEL in s["attributes"]]
    assert len(llm_spans) == len(bills)
    for span, bill in zip(llm_spans, bills, strict=True):
        a = span["attributes"]
        assert a[n.ATTR_GEN_AI_INPUT_TOKENS] == a[n.ATTR_USAGE_PROMPT]
        assert a[n.ATTR_GEN_AI_OUTPUT_TOKENS] == a[n.ATTR_USAGE_COMPLETION]
        if bill is None:
            assert n.ATTR_USAGE_TOTAL_COST not in a
            continue
        assert a[n.ATTR_USAGE_TOTAL_COST] == pytest.approx(bill)
        assert a[n.ATTR_USAGE_INPUT_COST] + a[n.ATTR_USAGE_OUTPUT_COST] == pytest.approx(bill)
    claude_span = llm_spans[2]["attributes"]
    assert claude_span[n.ATTR_USAGE_PROMPT] == 2000  # the whole input, cache reads and writes
    assert claude_span[n.ATTR_USAGE_CACHED] == 1200
    assert claude_span[n.ATTR_USAGE_CACHE_CREATION] == 500
    assert claude_span[n.ATTR_USAGE_OUTPUT_COST] == pytest.approx(300 * 15 / 1e6)
    totals = cost_samples(generate_latest(metrics.registry).decode())
    assert totals[("openai", "gpt-4o")] == pytest.approx(bills[0] + bills[1])  # type: ignore[operator]
    assert totals[("anthropic", "claude-sonnet-4")] == pytest.approx(bills[2] + bills[3])  # type: ignore[operator]
    assert totals[("openai", "acme-private")] == pytest.approx(bills[4])
    assert ("openai", "unpriced-model") not in totals


def test_a_continued_stream_bills_both_providers(upstream: Any, gateway: Any) -> None:
    """A stream cut after 40 of 60 tokens and finished by the fallback: the primary's share (it
    was cut before reporting usage: estimated from the text) at the primary's price, plus the
    fallback's reported usage at the fallback's."""
    words = [f"w{i:02d} " for i in range(60)]
    sent, rest = "".join(words[:40]), "".join(words[40:])
    primary = {"input": 5.0, "output": 20.0}
    fallback = {"input": 0.25, "output": 1.0}
    text = f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 20s}}
model_providers:
  - model: openai/gpt-4o
    access_key: k
    base_url: {upstream.base_url}
    default: true
    fallbacks: [openai/gpt-4o-mini]
    pricing: {{input_per_mtok: {primary["input"]}, output_per_mtok: {primary["output"]}}}
  - model: openai/gpt-4o-mini
    access_key: k
    base_url: {upstream.base_url}
    pricing: {{input_per_mtok: {fallback["input"]}, output_per_mtok: {fallback["output"]}}}
"""
    upstream.script(
        {"model": "gpt-4o", "text": "".join(words), "chunks": 60}
        | {"fault": "disconnect_mid_stream", "fault_after_chunks": 41},
        {"model": "gpt-4o-mini", "text": rest, "chunks": 20}
        | {"usage": {"prompt_tokens": 50, "completion_tokens": 20}},
    )
    log = io.StringIO()
    metrics = build_metrics()
    telemetry = Telemetry(metrics=metrics, records=[AccessLog("json", log)])
    with (
        gateway(text, telemetry=telemetry) as gw,
        openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="c", max_retries=0) as oa,
    ):
        chunks = list(
            oa.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "hi"}],
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == sent + rest
    primary_prompt, primary_completion = (len("hi") + 3) // 4, len(sent) // 4
    usage = chunks[-1].usage
    assert usage is not None and usage.prompt_tokens == primary_prompt + 50
    bill = expected(primary, primary_prompt, primary_completion) + expected(fallback, 50, 20)
    (line,) = [json.loads(x) for x in log.getvalue().splitlines()]
    assert line["continued"] is True
    assert line["cost_usd"] == pytest.approx(bill)
    assert sum(cost_samples(generate_latest(metrics.registry).decode()).values()) == pytest.approx(
        bill
    )
