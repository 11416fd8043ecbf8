"""Execution loops over the tool calls: retries, parameter drift and A→B→A→B oscillation."""

from __future__ import annotations

from typing import Final

from plano.signals.conversation import FUNCTION_CALL, Row
from plano.signals.report import Signal
from plano.signals.taxonomy import OSCILLATION, PARAMETER_DRIFT, RETRY

MIN_RUN: Final = 3
MIN_CYCLES: Final = 3
CONFIDENCE: Final = 0.9


def _runs(calls: list[Row]) -> list[list[Row]]:
    """Maximal runs of consecutive calls to the same tool."""
    runs: list[list[Row]] = []
    for call in calls:
        if runs and runs[-1][0].tool_name == call.tool_name:
            runs[-1].append(call)
        else:
            runs.append([call])
    return runs


def loop_signals(rows: list[Row]) -> list[Signal]:
    calls = [r for r in rows if r.role == FUNCTION_CALL]
    out: list[Signal] = []
    for run in _runs(calls):
        if len(run) < MIN_RUN:
            continue
        distinct = len({c.tool_args for c in run})
        kind = RETRY if distinct == 1 else PARAMETER_DRIFT
        meta = {"tool": run[0].tool_name, "calls": len(run), "distinct_arguments": distinct}
        out.append(
            Signal(kind, run[MIN_RUN - 1].message_index, CONFIDENCE, run[-1].text[:100], meta)
        )
    out.extend(_oscillations(calls))
    return out


def _oscillations(calls: list[Row]) -> list[Signal]:
    """Segments where two different tools alternate for at least three full A→B cycles."""
    names = [c.tool_name for c in calls]
    segments: list[tuple[int, int]] = []
    start = 0
    for j in range(1, len(names)):
        if names[j] != names[j - 1] and (j - start < 2 or names[j] == names[j - 2]):
            continue
        segments.append((start, j))
        start = j - 1 if names[j] != names[j - 1] else j
    segments.append((start, len(names)))
    out: list[Signal] = []
    for lo, hi in segments:
        if hi - lo < 2 * MIN_CYCLES:
            continue
        a, b = names[lo], names[lo + 1]
        meta = {"tools": [a, b], "cycles": (hi - lo) // 2}
        index = calls[lo + 2 * MIN_CYCLES - 1].message_index
        out.append(Signal(OSCILLATION, index, CONFIDENCE, f"{a} → {b} → {a} → {b}", meta))
    return out
