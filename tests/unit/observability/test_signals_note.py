"""How each telemetry sink renders a request's agentic signals (`SignalsNote`): span attributes and
events, the request span's 🚩 name, the access log's field and text, PostHog properties."""

from __future__ import annotations

from typing import Any

import orjson
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from plano.config.sections import TracingConfig
from plano.observability.access_log import Clock, fields, text_line
from plano.observability.posthog_events import build_event
from plano.observability.record import RequestRecord
from plano.observability.signals_note import SignalsNote, metadata_json
from plano.observability.tracing import build_tracing
from plano.tracecollector.store import spans_from_request

NOTE = SignalsNote(
    quality="severe",
    score=0.0,
    turn_count=3,
    efficiency=1.0,
    flagged=True,
    categories=(("interaction", "disengagement", 1, 1), ("execution", "loops", 1, 1)),
    instances=(
        ("interaction.disengagement.escalation", 6, 0.95, "talk to a human", '{"phrase":"x"}'),
        ("execution.loops.retry", 4, 0.9, "lookup({})", metadata_json({"tool": "lookup"})),
    ),
)


class Sender:
    def __init__(self) -> None:
        self.requests: list[bytes] = []

    def send(self, request: bytes) -> bool:
        self.requests.append(request)
        return True

    def shutdown(self) -> None:
        return None


def record(note: SignalsNote | None) -> RequestRecord:
    r = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    r.handler = "llm_chat"
    r.requested_model = r.model = "openai/gpt-4o"
    r.status = 200
    r.end = r.start + 5_000_000
    r.signals = note
    return r


def spans(*notes: SignalsNote | None) -> list[dict[str, Any]]:
    sender = Sender()
    tracing = build_tracing(TracingConfig(random_sampling=100), {}, sender=sender)
    assert tracing is not None
    for note in notes:
        r = record(note)
        tracing.begin(r, None, None)
        tracing.finish(r)
    tracing.shutdown(5)
    out: list[dict[str, Any]] = []
    for raw in sender.requests:
        request = ExportTraceServiceRequest()
        request.ParseFromString(raw)
        out.extend(spans_from_request(request))
    return out


def test_the_request_span_carries_attributes_events_and_the_flag() -> None:
    calm = SignalsNote(quality="good", score=66.0, turn_count=2, efficiency=1.0, flagged=False)
    flagged, plain, analysed = spans(NOTE, None, calm)
    assert flagged["name"] == "POST /v1/chat/completions openai/gpt-4o \U0001f6a9"
    a = flagged["attributes"]
    assert a["signals.quality"] == "severe" and a["signals.quality_score"] == 0.0
    assert a["signals.turn_count"] == 3 and a["signals.efficiency_score"] == 1.0
    assert a["signals.interaction.disengagement.count"] == 1
    assert a["signals.execution.loops.severity"] == 1
    events = {e["name"]: e["attributes"] for e in flagged["events"]}
    escalation = events["signal.interaction.disengagement.escalation"]
    assert escalation == {
        "signal.type": "interaction.disengagement.escalation",
        "signal.message_index": 6,
        "signal.confidence": 0.95,
        "signal.snippet": "talk to a human",
        "signal.metadata": '{"phrase":"x"}',
    }
    assert orjson.loads(events["signal.execution.loops.retry"]["signal.metadata"]) == {
        "tool": "lookup"
    }
    # Same request shape without signals: the shared span head is not the flagged one.
    assert plain["name"] == "POST /v1/chat/completions openai/gpt-4o"
    assert not [k for k in plain["attributes"] if k.startswith("signals.")]
    assert plain["events"] == []
    assert analysed["name"] == plain["name"]
    assert analysed["attributes"]["signals.quality"] == "good"


def test_the_access_log_carries_a_compact_field_and_the_text_line_the_quality() -> None:
    clock = Clock()
    doc = fields(record(NOTE), clock)
    assert doc["signals"] == {
        "quality": "severe",
        "score": 0.0,
        "flagged": True,
        "turns": 3,
        "counts": {"interaction.disengagement": 1, "execution.loops": 1},
        "types": ["interaction.disengagement.escalation", "execution.loops.retry"],
    }
    assert "talk to a human" not in orjson.dumps(doc).decode()  # no snippet in logs
    assert "signals" not in fields(record(None), clock)
    line = text_line(record(NOTE), clock)
    assert " signals=severe flagged=true request_id=" in line
    assert "signals=" not in text_line(record(None), clock)


def test_posthog_events_carry_the_signals() -> None:
    r = record(NOTE)
    tp = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    item = (tp, r.model or "", "gpt-4o", "openai", False, 200, 200, None, 3, 4,
            r.start, r.end, 0, r.wall_start, (), None, None, NOTE)  # fmt: skip
    props = build_event(item).properties
    assert props["$ai_signals_quality"] == "severe"
    assert props["$ai_signals_quality_score"] == 0.0
    assert props["$ai_signals_flagged"] is True
    assert props["$ai_signals_categories"] == {
        "interaction.disengagement": 1,
        "execution.loops": 1,
    }
    assert props["$ai_signals_types"] == [
        "interaction.disengagement.escalation",
        "execution.loops.retry",
    ]
    without = build_event((*item[:-1], None)).properties
    assert not [k for k in without if k.startswith("$ai_signals")]
