"""The matrix report and routing table, on synthetic outcomes (no servers)."""

from __future__ import annotations

from plano.providers.catalogue import Api
from tests.conformance import report
from tests.conformance.matrix import Cell, all_cells, not_applicable, route


def test_render_marks_counts_and_notes() -> None:
    cells = all_cells()
    outcomes = {c.id: "passed" for c in cells}
    first, second, third = cells[0], cells[1], cells[2]
    outcomes[first.id] = "xfailed"
    outcomes[second.id] = "not_applicable"
    outcomes[third.id] = "xpassed"
    reasons = {first.id: "translator bug X", second.id: "cannot be expressed"}
    text = report.render({"outcomes": outcomes, "reasons": reasons})
    passed = len(cells) - 3
    assert f"**{passed} passed, 2 failed, 1 not applicable** of {len(cells)} cells." in text
    row = next(line for line in text.splitlines() if line.startswith(f"| {first.client} |"))
    assert row.split(" | ")[3:6] == ["❌<sup>1</sup>", "—<sup>2</sup>", "❌<sup>3</sup>"]
    assert "1. translator bug X" in text
    assert "2. cannot be expressed" in text
    assert "3. listed as a known failure but passes" in text


def test_missing_outcome_is_a_failure() -> None:
    text = report.render({"outcomes": {}, "reasons": {}})
    assert "✅" not in text.split("## Notes")[0].split("|---|")[-1]
    assert "did not run" in text


def test_same_dialect_routes_exist_and_unreachable_cells_say_why() -> None:
    for api in ("openai_chat", "anthropic_messages", "openai_responses"):
        row = route(api, api)
        assert row is not None
        assert row.upstream_api(Api(api)) is Api(api)
    cell = Cell("openai_chat", "anthropic_messages", "stream", "text")
    if route(cell.client, cell.upstream) is None:
        reason = not_applicable(cell)
        assert reason is not None and "no provider row" in reason
