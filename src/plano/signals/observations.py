"""Execution failures and environment exhaustion, read from tool results (`observation` rows)."""

from __future__ import annotations

import functools
from typing import Final

from plano.signals.conversation import FUNCTION_CALL, OBSERVATION, Row
from plano.signals.lexicon import observation_patterns
from plano.signals.report import Signal
from plano.signals.text import truncate

CONFIDENCE: Final[dict[str, float]] = {"execution": 0.9, "environment": 0.95}
SNIPPET_CONTEXT: Final = 40
SCAN_TEXTS: Final = 2048  # cached results by truncated text (≤ 2000 characters each)


def _snippet(text: str, start: int, end: int) -> str:
    lo = max(0, start - SNIPPET_CONTEXT)
    hi = min(len(text), end + SNIPPET_CONTEXT)
    core = " ".join(text[lo:hi].split())
    return ("…" if lo > 0 else "") + core + ("…" if hi < len(text) else "")


def observation_signals(rows: list[Row]) -> list[Signal]:
    """Per tool result and layer, the first leaf (in data-file order) with a matching pattern."""
    out: list[Signal] = []
    last_tool = ""
    for row in rows:
        if row.role == FUNCTION_CALL:
            last_tool = row.tool_name
            continue
        if row.role != OBSERVATION or not row.text:
            continue
        out.extend(observation_of(row, last_tool))
    return out


def observation_of(row: Row, last_tool: str) -> list[Signal]:
    """The failure and exhaustion signals of one tool result (`last_tool`: the call before it)."""
    return [
        Signal(
            leaf,
            row.message_index,
            CONFIDENCE[layer],
            snippet,
            {"tool": last_tool, "matched": matched},
        )
        for leaf, layer, snippet, matched in scan(truncate(row.text))
    ]


@functools.lru_cache(maxsize=SCAN_TEXTS)
def scan(text: str) -> tuple[tuple[str, str, str, str], ...]:
    """(leaf, layer, snippet, matched text) per layer that matches a (truncated) tool result."""
    found: list[tuple[str, str, str, str]] = []
    for layer, patterns in observation_patterns().items():
        for leaf, pattern in patterns:
            hit = pattern.search(text)
            if hit is not None:
                snippet = _snippet(text, hit.start(), hit.end())
                found.append((leaf, layer, snippet, hit.group(0).lower()))
                break
    return tuple(found)
