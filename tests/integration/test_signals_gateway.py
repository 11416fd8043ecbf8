"""Agentic signals end to end: the official SDKs send conversations through a real gateway (fake
upstream), and the request spans (OTLP, decoded), `/metrics` and the JSON access log carry what the
analysers found after the answer: attributes, one event per signal, the 🚩, the counters, the
`signals` field. A pleasant conversation carries no negative signal and no flag;
`disable_signals: true` carries none at all.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest

from plano.config.sections import TracingConfig
from plano.observability.access_log import AccessLog
from plano.observability.metrics import PrometheusMetrics
from plano.observability.telemetry import Telemetry
from plano.observability.tracing import build_tracing
from tests.conftest import GatewayFactory
from tests.integration.services import aiohttp_in_thread
from tests.integration.test_agent_spans import MemorySender, Seen, chat
from tests.integration.test_agents import post
from tests.integration.test_metrics import Samples, scrape_until, value

pytestmark = pytest.mark.integration

FLAG = " \U0001f6a9"
NEGATIVE = (
    "interaction.misalignment.correction",
    "interaction.disengagement.escalation",
    "execution.loops.retry",
)
FAILED = "Error: the lookup tool failed with an internal error, please retry"
ARGS = '{"city": "Paris", "day": "friday"}'

CORRECTION = "No, I meant Paris in Texas, not the one in France."
ESCALATION = "This is going nowhere. Let me talk to a human agent please."
PLEASANT = [
    {"role": "user", "content": "Hi! Could you suggest a good book about the history of tea?"},
    {"role": "assistant", "content": "Try 'For All the Tea in China' by Sarah Rose."},
    {"role": "user", "content": "Thanks, that's really helpful. That works perfectly for me."},
]


def chat_conversation() -> list[dict[str, Any]]:
    """A correction, three identical failing tool calls, then a request for a human."""
    out: list[dict[str, Any]] = [
        {"role": "user", "content": "Find me a flight to Paris on Friday."},
    ]
    for i in range(3):
        call = {"id": f"c{i}", "type": "function",
                "function": {"name": "search_flights", "arguments": ARGS}}  # fmt: skip
        out.append({"role": "assistant", "content": None, "tool_calls": [call]})
        out.append({"role": "tool", "tool_call_id": f"c{i}", "content": FAILED})
    out.append({"role": "assistant", "content": "I found flights to Paris, France."})
    out.append({"role": "user", "content": CORRECTION})
    out.append({"role": "assistant", "content": "Sorry, searching again."})
    out.append({"role": "user", "content": ESCALATION})
    return out


def anthropic_conversation() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"role": "user", "content": "Find me a flight to Paris on Friday."},
    ]
    for i in range(3):
        use = {"type": "tool_use", "id": f"t{i}", "name": "search_flights",
               "input": json.loads(ARGS)}  # fmt: skip
        out.append({"role": "assistant", "content": [use]})
        result = {"type": "tool_result", "tool_use_id": f"t{i}", "content": FAILED}
        out.append({"role": "user", "content": [result]})
    out.append({"role": "assistant", "content": "I found flights to Paris, France."})
    out.append({"role": "user", "content": CORRECTION})
    out.append({"role": "assistant", "content": "Sorry, searching again."})
    out.append({"role": "user", "content": ESCALATION})
    return out


def responses_items(*, escalate: bool = True) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"role": "user", "content": "Find me a flight to Paris on Friday."},
    ]
    for i in range(3):
        out.append({"type": "function_call", "call_id": f"r{i}", "name": "search_flights",
                    "arguments": ARGS})  # fmt: skip
        out.append({"type": "function_call_output", "call_id": f"r{i}", "output": FAILED})
    out.append({"role": "assistant", "content": "I found flights to Paris, France."})
    out.append({"role": "user", "content": CORRECTION})
    if escalate:
        out.append({"role": "assistant", "content": "Sorry, searching again."})
        out.append({"role": "user", "content": ESCALATION})
    return out


WHERE = {"listener": "llm", "model": "mistral/mistral-large", "route": "exact", "agent": ""}


def config(upstream: Any, extra: str = "", overrides: str = "") -> str:
    """The gateway under test; the analysis gets the whole worker's time (no skips on a busy
    test machine: the budget has its own unit tests)."""
    return f"""
version: v0.4.0
overrides: {{signals_cpu_budget: 1.0{overrides}}}
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 10s}}
model_providers:
  - model: mistral/mistral-large
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}
    default: true
{extra}
"""


@dataclass
class Sinks:
    telemetry: Telemetry
    spans: MemorySender
    log: io.StringIO

    def request_spans(self) -> list[dict[str, Any]]:
        return [s for s in self.spans.spans() if s["kind"] == "server"]

    def log_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.log.getvalue().splitlines() if line]


@pytest.fixture
def sinks() -> Iterator[Sinks]:
    sender = MemorySender()
    tracing = build_tracing(TracingConfig(random_sampling=100), {}, sender=sender)
    assert tracing is not None
    log = io.StringIO()
    telemetry = Telemetry(
        metrics=PrometheusMetrics(), tracing=tracing, records=[AccessLog("json", log)]
    )
    yield Sinks(telemetry, sender, log)


def by_path(spans: list[dict[str, Any]], path: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["attributes"].get("http.path") == path]


def event_types(span: dict[str, Any]) -> set[str]:
    return {
        e["attributes"]["signal.type"] for e in span["events"] if e["name"].startswith("signal.")
    }


def assert_negative(span: dict[str, Any], line: dict[str, Any]) -> None:
    """The span and the access-log line of a conversation with the three negative signals."""
    a = span["attributes"]
    assert span["name"].endswith(FLAG), span["name"]
    assert a["signals.quality"] == "severe"
    assert a["signals.quality_score"] == 0
    assert a["signals.turn_count"] == 3
    assert a["signals.interaction.misalignment.count"] >= 1
    assert a["signals.interaction.disengagement.count"] >= 1
    assert a["signals.interaction.disengagement.severity"] >= 1
    assert a["signals.execution.loops.count"] >= 1
    assert set(NEGATIVE) <= event_types(span)
    for e in span["events"]:
        if e["attributes"].get("signal.type") == "execution.loops.retry":
            assert json.loads(e["attributes"]["signal.metadata"])  # which tool looped
        if e["attributes"].get("signal.type") == "interaction.disengagement.escalation":
            assert "human" in e["attributes"]["signal.snippet"].lower()
            assert isinstance(e["attributes"]["signal.message_index"], int)
            assert 0 < e["attributes"]["signal.confidence"] <= 1
    signals = line["signals"]
    assert signals["quality"] == "severe" and signals["flagged"] is True
    assert set(NEGATIVE) <= set(signals["types"])
    assert signals["counts"]["execution.loops"] >= 1


def counted(s: Samples, quality: str, **labels: str) -> float:
    return value(s, "plano_signals_conversations_total", quality=quality, **labels) or 0


def test_chat_messages_and_responses_carry_signals(
    upstream: Any, gateway: GatewayFactory, sinks: Sinks
) -> None:
    upstream.script({"text": "ok"}, {"text": "ok"}, {"text": "ok"}, {"text": "ok"})
    where = {"listener": "llm", "model": "mistral/mistral-large", "route": "exact", "agent": ""}
    extra = "state_storage: {type: memory}\n"
    with gateway(config(upstream, extra), telemetry=sinks.telemetry) as gw:
        with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c:
            c.chat.completions.create(model="mistral-large", messages=chat_conversation())  # type: ignore[arg-type]
            first = c.responses.create(model="mistral-large", input=responses_items(escalate=False))  # type: ignore[arg-type]
            c.responses.create(
                model="mistral-large", input=ESCALATION, previous_response_id=first.id
            )
        with anthropic.Anthropic(base_url=gw.url(), api_key="k", max_retries=0) as a:
            a.messages.create(
                model="mistral-large", max_tokens=50, messages=anthropic_conversation()
            )  # type: ignore[arg-type]
        s = scrape_until(gw.admin_url, lambda s: sum(counted(s, q, **where) for q in
                         ("severe", "poor", "neutral", "good", "excellent")) == 4)  # fmt: skip
    assert counted(s, "severe", **where) == 3  # chat, the continued Responses call, Messages
    kinds = {"layer": "execution", "category": "loops", **where}
    assert value(s, "plano_signals_total", **kinds) == 4  # each of the 4 calls looped
    mis = {"layer": "interaction", "category": "misalignment", **where}
    assert (value(s, "plano_signals_total", **mis) or 0) >= 4
    esc = {"layer": "interaction", "category": "disengagement", **where}
    assert (value(s, "plano_signals_total", **esc) or 0) >= 3
    spans = sinks.request_spans()
    lines = {line["path"]: [] for line in sinks.log_lines()}
    for line in sinks.log_lines():
        lines[line["path"]].append(line)
    (chat_span,) = by_path(spans, "/v1/chat/completions")
    assert_negative(chat_span, lines["/v1/chat/completions"][0])
    (messages_span,) = by_path(spans, "/v1/messages")
    assert_negative(messages_span, lines["/v1/messages"][0])
    first_span, continued_span = sorted(
        by_path(spans, "/v1/responses"), key=lambda s: s["start_ns"]
    )
    # The first Responses call: a correction and the loop, no escalation yet.
    assert "interaction.disengagement.escalation" not in event_types(first_span)
    assert {"execution.loops.retry", "interaction.misalignment.correction"} <= event_types(
        first_span
    )
    assert first_span["name"].endswith(FLAG)  # loops flag it
    # The continued call is analysed over the conversation restored from the state store.
    assert_negative(continued_span, lines["/v1/responses"][1])


def test_pleasant_conversation_has_no_negative_signal_and_no_flag(
    upstream: Any, gateway: GatewayFactory, sinks: Sinks
) -> None:
    with gateway(config(upstream), telemetry=sinks.telemetry) as gw:
        with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c:
            c.chat.completions.create(model="mistral-large", messages=PLEASANT)  # type: ignore[arg-type]
        s = scrape_until(gw.admin_url, lambda s: sum(
            counted(s, q, listener="llm", model="mistral/mistral-large", route="exact", agent="")
            for q in ("severe", "poor", "neutral", "good", "excellent")) == 1)  # fmt: skip
    (span,) = by_path(sinks.request_spans(), "/v1/chat/completions")
    a = span["attributes"]
    assert not span["name"].endswith(FLAG)
    assert a["signals.quality"] in ("good", "excellent")
    assert a["signals.turn_count"] == 2
    types = event_types(span)
    assert "interaction.satisfaction.gratitude" in types
    assert not {t for t in types if not t.startswith("interaction.satisfaction.")}
    for layer in ("interaction.misalignment", "interaction.stagnation", "interaction.disengagement",
                  "execution.failure", "execution.loops", "environment.exhaustion"):  # fmt: skip
        assert f"signals.{layer}.count" not in a
    (line,) = sinks.log_lines()
    assert line["signals"]["flagged"] is False
    dis = {"layer": "interaction", "category": "disengagement"}
    assert value(s, "plano_signals_total", **dis, **WHERE) is None


def test_disable_signals_yields_no_signals(
    upstream: Any, gateway: GatewayFactory, sinks: Sinks
) -> None:
    with gateway(
        config(upstream, overrides=", disable_signals: true"), telemetry=sinks.telemetry
    ) as gw:
        with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c:
            c.chat.completions.create(model="mistral-large", messages=chat_conversation())  # type: ignore[arg-type]
        s = scrape_until(gw.admin_url, lambda s: value(
            s, "brightstaff_http_requests_total", listener="llm", handler="llm_chat",
            method="POST", status_class="2xx") == 1)  # fmt: skip
    (span,) = by_path(sinks.request_spans(), "/v1/chat/completions")
    assert not [k for k in span["attributes"] if k.startswith("signals.")]
    assert not span["events"] or not event_types(span)
    assert not span["name"].endswith(FLAG)
    (line,) = sinks.log_lines()
    assert "signals" not in line
    assert not [k for k in s if k[0].startswith("plano_signals_conversations")]


def test_sample_rate_zero_analyses_nothing(
    upstream: Any, gateway: GatewayFactory, sinks: Sinks
) -> None:
    with (
        gateway(
            config(upstream, overrides=", signals_sample_rate: 0"), telemetry=sinks.telemetry
        ) as gw,
        openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c,
    ):
        c.chat.completions.create(model="mistral-large", messages=chat_conversation())  # type: ignore[arg-type]
    (line,) = sinks.log_lines()
    assert "signals" not in line


def test_agent_listener_conversation_carries_signals(gateway: GatewayFactory, sinks: Sinks) -> None:
    agent = Seen(chat("Let me look into that."))
    with aiohttp_in_thread(agent.app()) as agent_url:
        text = f"""
version: v0.3.0
agents: [{{id: helper, url: {agent_url}}}]
model_providers: [{{model: openai/gpt-4o, access_key: k, base_url: {agent_url}, default: true}}]
overrides: {{signals_cpu_budget: 1.0}}
listeners:
  - {{type: agent, name: desk, address: 127.0.0.1, port: 0,
      agents: [{{id: helper, description: Helps., default: true}}]}}
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
"""
        with gateway(text, telemetry=sinks.telemetry) as gw:
            status, body = post(
                gw.url("agent") + "/v1/chat/completions",
                {"model": "gpt-4o", "messages": chat_conversation()},
            )
            assert status == 200, body
            where = {"listener": "desk", "model": "", "route": "", "agent": "helper"}
            s = scrape_until(gw.admin_url, lambda s: counted(s, "severe", **where) == 1)
    assert counted(s, "severe", **where) == 1
    (span,) = by_path(sinks.request_spans(), "/v1/chat/completions")
    (line,) = sinks.log_lines()
    assert_negative(span, line)


def test_a_streamed_chat_and_the_same_conversation_again_carry_signals(
    upstream: Any, gateway: GatewayFactory, sinks: Sinks
) -> None:
    """stream=True: the analysis runs once the stream has ended, and the span, the access-log
    line and the counters carry it; the same conversation sent again (its note is kept) carries
    the same signals, and so does a streamed pleasant one, without a flag."""
    upstream.script({"text": "Sorry about that."}, {"text": "ok"}, {"text": "Glad to help."})
    with gateway(config(upstream), telemetry=sinks.telemetry) as gw:
        with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c:
            for messages in (chat_conversation(), chat_conversation(), PLEASANT):
                stream = c.chat.completions.create(
                    model="mistral-large",
                    messages=messages,  # type: ignore[arg-type]
                    stream=True,
                )
                with stream:
                    text = "".join(ch.choices[0].delta.content or "" for ch in stream if ch.choices)
                assert text
        s = scrape_until(gw.admin_url, lambda s: sum(counted(s, q, **WHERE) for q in
                         ("severe", "poor", "neutral", "good", "excellent")) == 3)  # fmt: skip
    assert counted(s, "severe", **WHERE) == 2
    loops = {"layer": "execution", "category": "loops", **WHERE}
    assert value(s, "plano_signals_total", **loops) == 2
    spans = sorted(
        by_path(sinks.request_spans(), "/v1/chat/completions"), key=lambda s: s["start_ns"]
    )
    lines = sinks.log_lines()
    assert len(spans) == 3 and len(lines) == 3
    assert [line["stream"] for line in lines] == [True, True, True]
    for span, line in zip(spans[:2], lines[:2], strict=True):
        assert_negative(span, line)
    assert event_types(spans[0]) == event_types(spans[1])
    pleasant = spans[2]
    assert not pleasant["name"].endswith(FLAG)
    assert pleasant["attributes"]["signals.quality"] in ("good", "excellent")
    assert lines[2]["signals"]["flagged"] is False
