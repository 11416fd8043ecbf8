"""Execution failures and environment exhaustion, read from tool results (`observation` rows)."""

from __future__ import annotations

from typing import Final

from plano.signals.conversation import FUNCTION_CALL, OBSERVATION, Row
from plano.signals.lexicon import observation_patterns
from plano.signals.report import Signal
from plano.signals.text import truncate

CONFIDENCE: Final[dict[str, float]] = {"execution": 0.9, "environment": 0.95}
SNIPPET_CONTEXT: Final = 40


def _snippet(text: str, start: int, end: int) -> str:
    lo = max(0, start - SNIPPET_CONTEXT)
    hi = min(len(text), end + SNIPPET_CONTEXT)
    core = " ".join(text[lo:hi].split())
    return ("…" if lo > 0 else "") + core + ("…" if hi < len(text) else "")


def observation_signals(rows: list[Row]) -> list[Signal]:
    """Per tool result and layer, the first leaf (in data-file order) with a matching pattern."""
    layers = observation_patterns()
    out: list[Signal] = []
    last_tool = ""
    for row in rows:
        if row.role == FUNCTION_CALL:
            last_tool = row.tool_name
            continue
        if row.role != OBSERVATION or not row.text:
            continue
        text = truncate(row.text)
        for layer in ("execution", "environment"):
            for leaf, pattern in layers.get(layer, ()):
                found = pattern.search(text)
                if found is None:
                    continue
                meta = {"tool": last_tool, "matched": found.group(0).lower()}
                snippet = _snippet(text, found.start(), found.end())
                out.append(Signal(leaf, row.index, CONFIDENCE[layer], snippet, meta))
                break
    return out
