"""Collector (events -> response) and events_of (response -> events) are inverses."""

from __future__ import annotations

from plano import ir
from plano.translate.collect import Collector, events_of


def test_response_round_trips_through_events() -> None:
    resp = ir.Response(
        "id1",
        "m",
        [
            ir.Thinking("hmm", signature="sig"),
            ir.Text("Hello"),
            ir.ToolCall("c1", "f", '{"a":1}'),
            ir.Refusal("no"),
        ],
        ir.StopReason.TOOL_USE,
        usage=ir.Usage(input=3, output=4),
    )
    collector = Collector()
    collector.feed(events_of(resp))
    assert collector.complete
    assert collector.response() == resp


def test_deltas_of_unknown_blocks_are_ignored() -> None:
    collector = Collector()
    collector.feed([ir.MessageStart("x", "m"), ir.TextDelta(3, "lost"), ir.ThinkingDelta(4, "x")])
    assert collector.response().content == []
