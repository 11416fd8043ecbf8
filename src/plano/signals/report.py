"""The public result types of the analysers and their telemetry / JSON renderings."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from plano.signals.taxonomy import CATEGORIES

# Span attribute and event names (§9.3 of the reference behaviour).
ATTR_QUALITY: Final = "signals.quality"
ATTR_QUALITY_SCORE: Final = "signals.quality_score"
ATTR_TURN_COUNT: Final = "signals.turn_count"
ATTR_EFFICIENCY_SCORE: Final = "signals.efficiency_score"
ATTR_CATEGORY_PREFIX: Final = "signals."
EVENT_PREFIX: Final = "signal."
EVENT_TYPE: Final = "signal.type"
EVENT_MESSAGE_INDEX: Final = "signal.message_index"
EVENT_CONFIDENCE: Final = "signal.confidence"
EVENT_SNIPPET: Final = "signal.snippet"
EVENT_METADATA: Final = "signal.metadata"

QUALITY_BUCKETS: Final = ("excellent", "good", "neutral", "poor", "severe")


@dataclass(frozen=True, slots=True)
class Signal:
    """One detected instance: `type` is `layer.category.leaf`; `message_index` indexes the input."""

    type: str
    message_index: int
    confidence: float
    snippet: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def layer(self) -> str:
        return _layer_category(self.type)[0]

    @property
    def category(self) -> str:
        return _layer_category(self.type)[1]

    def to_json(self) -> dict[str, Any]:
        return {
            "signal_type": self.type,
            "message_index": self.message_index,
            "snippet": self.snippet,
            "confidence": round(self.confidence, 4),
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True, slots=True)
class CategoryResult:
    """Count and severity (0 none, 1 for 1–2, 2 for 3–4, 3 for ≥5) of one category."""

    layer: str
    category: str
    count: int
    severity: int


@dataclass(frozen=True, slots=True)
class SignalReport:
    """Everything the analysers found in one conversation."""

    signals: tuple[Signal, ...]
    categories: tuple[CategoryResult, ...]
    quality: str
    quality_score: float
    turn_count: int
    efficiency_score: float
    flagged: bool

    def category(self, layer: str, category: str) -> CategoryResult:
        for result in self.categories:
            if result.layer == layer and result.category == category:
                return result
        raise KeyError(f"{layer}.{category}")

    def types(self) -> frozenset[str]:
        """The distinct leaf types present."""
        return frozenset(s.type for s in self.signals)

    def span_attributes(self) -> dict[str, str | int | float]:
        attrs: dict[str, str | int | float] = {
            ATTR_QUALITY: self.quality,
            ATTR_QUALITY_SCORE: round(self.quality_score, 2),
            ATTR_TURN_COUNT: self.turn_count,
            ATTR_EFFICIENCY_SCORE: round(self.efficiency_score, 4),
        }
        for result in self.categories:
            if result.count > 0:
                prefix = f"{ATTR_CATEGORY_PREFIX}{result.layer}.{result.category}"
                attrs[f"{prefix}.count"] = result.count
                attrs[f"{prefix}.severity"] = result.severity
        return attrs

    def span_events(self) -> list[tuple[str, dict[str, str | int | float]]]:
        return [
            (
                f"{EVENT_PREFIX}{s.type}",
                {
                    EVENT_TYPE: s.type,
                    EVENT_MESSAGE_INDEX: s.message_index,
                    EVENT_CONFIDENCE: round(s.confidence, 4),
                    EVENT_SNIPPET: s.snippet,
                    EVENT_METADATA: json.dumps(dict(s.metadata), sort_keys=True, default=str),
                },
            )
            for s in self.signals
        ]

    def to_json(self) -> dict[str, Any]:
        """The replay report: layers → categories → {count, severity, signals}, plus the scores."""
        layers: dict[str, dict[str, Any]] = {}
        for result in self.categories:
            layers.setdefault(result.layer, {})[result.category] = {
                "category": result.category,
                "count": result.count,
                "severity": result.severity,
                "signals": [
                    s.to_json()
                    for s in self.signals
                    if s.layer == result.layer and s.category == result.category
                ],
            }
        return {
            **layers,
            "overall_quality": self.quality,
            "quality_score": round(self.quality_score, 2),
            "turn_metrics": {
                "user_turns": self.turn_count,
                "efficiency_score": round(self.efficiency_score, 4),
            },
            "flagged": self.flagged,
        }


@functools.lru_cache(maxsize=64)
def _layer_category(leaf: str) -> tuple[str, str]:
    layer, category, *_ = [*leaf.split(".", 2), "", ""]
    return layer, category


def empty_categories() -> tuple[CategoryResult, ...]:
    return tuple(CategoryResult(layer, cat, 0, 0) for layer, cat in CATEGORIES)
