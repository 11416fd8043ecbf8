"""SignalReport's span attributes, span events and replay JSON (the §9.3 names)."""

from __future__ import annotations

import json

from plano.signals import CATEGORIES, analyse
from plano.signals.scoring import severity
from tests.unit.signals.conv import a, call, obs, u

BAD = [
    u("Find flights to Paris"),
    call("search_flights", to="PAR"),
    obs("Error: 503 Service Unavailable"),
    call("search_flights", to="PAR"),
    obs("Error: 503 Service Unavailable"),
    call("search_flights", to="PAR"),
    obs("invalid parameter 'to'"),
    a("Here are flights to Rome."),
    u("No, I meant Paris"),
    a("Sorry."),
    u("Let me talk to a human"),
]


def test_span_attributes_only_nonzero_categories() -> None:
    report = analyse(BAD)
    attrs = report.span_attributes()
    assert attrs["signals.quality"] == "severe"
    assert attrs["signals.quality_score"] == 0.0
    assert attrs["signals.turn_count"] == 3
    assert attrs["signals.efficiency_score"] == 1.0
    assert attrs["signals.interaction.misalignment.count"] == 1
    assert attrs["signals.interaction.misalignment.severity"] == 1
    assert attrs["signals.environment.exhaustion.count"] == 2
    assert attrs["signals.execution.loops.count"] == 1
    assert attrs["signals.execution.failure.count"] == 1
    assert attrs["signals.interaction.disengagement.count"] == 1
    assert "signals.interaction.satisfaction.count" not in attrs
    assert "signals.interaction.stagnation.severity" not in attrs
    assert report.flagged


def test_span_events_one_per_signal() -> None:
    report = analyse(BAD)
    events = report.span_events()
    assert len(events) == len(report.signals) == 6
    names = [name for name, _ in events]
    assert "signal.interaction.disengagement.escalation" in names
    _, attrs = next(e for e in events if e[0].endswith("correction"))
    assert attrs["signal.type"] == "interaction.misalignment.correction"
    assert attrs["signal.message_index"] == 8
    assert attrs["signal.snippet"] == "No, I meant Paris"
    assert json.loads(str(attrs["signal.metadata"]))["phrase"] == "no, i meant"
    assert 0 < float(attrs["signal.confidence"]) <= 1


def test_to_json_is_the_replay_shape() -> None:
    body = analyse(BAD).to_json()
    json.dumps(body)  # serialisable
    assert set(body) == {
        "interaction", "execution", "environment", "overall_quality", "quality_score",
        "turn_metrics", "flagged",
    }  # fmt: skip
    for layer, category in CATEGORIES:
        group = body[layer][category]
        assert group["count"] == len(group["signals"])
        assert group["severity"] == severity(group["count"])
    exhaustion = body["environment"]["exhaustion"]["signals"]
    assert [s["signal_type"] for s in exhaustion] == ["environment.exhaustion.api_error"] * 2
    assert body["turn_metrics"] == {"user_turns": 3, "efficiency_score": 1.0}


def test_pleasant_conversation_has_no_negative_signals() -> None:
    report = analyse([u("What's 2+2?"), a("4"), u("Thanks, that's right!")])
    assert report.types() <= {
        "interaction.satisfaction.gratitude",
        "interaction.satisfaction.confirmation",
    }
    assert not report.flagged and report.quality == "good"
    assert report.category("interaction", "satisfaction").count == 2


def test_cached_per_text_features_do_not_change_results() -> None:
    from plano.signals.observations import scan
    from plano.signals.utterance import assistant_features, user_features

    first = analyse(BAD)
    again = analyse(BAD)  # every text now comes from the caches
    assert again == first
    user_features.cache_clear()
    assistant_features.cache_clear()
    scan.cache_clear()
    assert analyse(BAD) == first
    # the same text at another position keeps its own message index
    moved = analyse([a("Hello"), a("How can I help?"), *BAD])
    assert [s.message_index - 2 for s in moved.signals] == [s.message_index for s in first.signals]
