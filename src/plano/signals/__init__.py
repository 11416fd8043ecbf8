"""Agentic signals: pure analysers over a conversation (no I/O, no async).

`analyse(messages)` scores one conversation (OpenAI chat messages, or ShareGPT replay rows with
`shape="sharegpt"`); `from_anthropic` / `from_responses` convert the other client dialects first.
"""

from __future__ import annotations

from plano.signals.analyse import analyse
from plano.signals.conversation import from_anthropic, from_responses
from plano.signals.report import CategoryResult, Signal, SignalReport
from plano.signals.taxonomy import CATEGORIES, LEAF_TYPES

__all__ = [
    "CATEGORIES",
    "LEAF_TYPES",
    "CategoryResult",
    "Signal",
    "SignalReport",
    "analyse",
    "from_anthropic",
    "from_responses",
]
