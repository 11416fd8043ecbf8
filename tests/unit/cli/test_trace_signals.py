"""`plano trace` and the receiver's query API with agentic signals: the 🚩 and quality shown in the
tree and the list, `--flagged`, `--where signals.quality=...` (click's runner, a receiver on
loopback)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from plano.tracecollector.server import Collector, parse_query
from tests.unit.cli.test_trace import NOW, run, span

FLAGGED = "d" * 32
PLEASANT = "e" * 32
PLAIN = "f" * 32


def analysed(trace_id: str, span_id: str, quality: str, flagged: bool, **kw: Any) -> dict[str, Any]:
    s = span(trace_id, span_id, **kw)
    if flagged:
        s["name"] += " \U0001f6a9"
    s["attributes"]["signals.quality"] = quality
    s["attributes"]["signals.quality_score"] = 0.0 if flagged else 66.0
    s["events"] = [
        {
            "name": "signal.interaction.disengagement.escalation",
            "time_ns": s["end_ns"],
            "attributes": {"signal.type": "interaction.disengagement.escalation"},
        }
    ] if flagged else []  # fmt: skip
    return s


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector("127.0.0.1", 0, 0) as c:
        c.store.add([span(PLAIN, "1" * 16, start=NOW - 30 * 10**9)])
        c.store.add([analysed(PLEASANT, "2" * 16, "good", False, start=NOW - 20 * 10**9)])
        c.store.add([analysed(FLAGGED, "3" * 16, "severe", True, start=NOW - 10 * 10**9)])
        yield c


def test_flagged_keeps_only_flagged_traces(collector: Collector, tmp_path: Path) -> None:
    result = run(collector, tmp_path, "any", "--list", "--flagged")
    assert result.exit_code == 0, result.output
    (line,) = result.output.splitlines()
    assert line.startswith(FLAGGED[:8])
    assert line.endswith("POST /v1/chat/completions gpt-4o \U0001f6a9  signals=severe")


def test_the_list_shows_quality_only_for_analysed_traces(
    collector: Collector, tmp_path: Path
) -> None:
    result = run(collector, tmp_path, "any", "--list")
    assert result.exit_code == 0, result.output
    lines = {line[:8]: line for line in result.output.splitlines()}
    assert lines[PLEASANT[:8]].endswith("gpt-4o  signals=good")
    assert "signals=" not in lines[PLAIN[:8]]


def test_where_quality_filters_and_the_tree_shows_flag_quality_and_events(
    collector: Collector, tmp_path: Path
) -> None:
    result = run(collector, tmp_path, "any", "--where", "signals.quality=severe")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(f"trace {FLAGGED}")
    assert lines[1].startswith("└─ POST /v1/chat/completions gpt-4o \U0001f6a9  plano(llm)")
    assert lines[1].endswith("200  signals=severe")
    assert any("event signal.interaction.disengagement.escalation" in line for line in lines)
    assert PLEASANT not in result.output
    none = run(collector, tmp_path, "any", "--where", "signals.quality=poor")
    assert none.exit_code == 1


def test_flagged_with_nothing_flagged_is_no_match(tmp_path: Path) -> None:
    with Collector("127.0.0.1", 0, 0) as c:
        c.store.add([span(PLAIN, "1" * 16)])
        result = run(c, tmp_path, "any", "--flagged")
    assert result.exit_code == 1
    assert "no matching traces" in result.output


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False)])
def test_the_query_api_reads_flagged(value: str, expected: bool) -> None:
    assert parse_query({"flagged": [value]}, NOW).flagged is expected
    assert parse_query({}, NOW).flagged is False
