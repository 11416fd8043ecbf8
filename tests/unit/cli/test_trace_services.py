"""`plano trace`: traces of other services are labelled and can be filtered out, and an empty
answer says how soon spans arrive."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from plano.tracecollector.server import Collector
from tests.unit.cli.test_trace import NEW, OLD, run, span


@pytest.fixture
def collector() -> Iterator[Collector]:
    with Collector("127.0.0.1", 0, 0) as c:
        c.store.add([span(NEW, "2" * 16)])
        foreign = span(OLD, "1" * 16)
        foreign["service"] = "checkout-api"
        c.store.add([foreign])
        yield c


def test_a_trace_without_plano_spans_is_labelled(collector: Collector, tmp_path: Path) -> None:
    listed = run(collector, tmp_path, "any", "--list")
    assert listed.exit_code == 0, listed.output
    lines = {line.split()[0]: line for line in listed.output.splitlines()}
    assert lines[OLD[:8]].endswith("[not Plano: checkout-api]")
    assert "not Plano" not in lines[NEW[:8]]
    tree = run(collector, tmp_path, OLD)
    assert tree.output.splitlines()[0].endswith("[not Plano: checkout-api]")
    doc = json.loads(run(collector, tmp_path, "any", "--json").output)
    assert {t["trace_id"]: (t["plano"], t["service"]) for t in doc["traces"]} == {
        NEW: (True, "plano(llm)"),
        OLD: (False, "checkout-api"),
    }


def test_service_filter_keeps_traces_with_a_matching_span(
    collector: Collector, tmp_path: Path
) -> None:
    ours = run(collector, tmp_path, "any", "--json", "--service", "plano*")
    assert [t["trace_id"] for t in json.loads(ours.output)["traces"]] == [NEW]
    theirs = run(collector, tmp_path, "any", "--json", "--service", "CHECKOUT-*")
    assert [t["trace_id"] for t in json.loads(theirs.output)["traces"]] == [OLD]


def test_no_match_says_when_spans_arrive(collector: Collector, tmp_path: Path) -> None:
    result = run(collector, tmp_path, "any", "--service", "nobody")
    assert result.exit_code == 1
    assert "arrive within ~0.5 s" in result.output
    assert "~5 s for a remote endpoint" in result.output
