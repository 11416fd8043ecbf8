"""What the agentic-signals analysis found for one request, as plain data for the sinks.

The analysers (`plano.signals`, a layer above this package) are run by the listeners' signals
worker after the response has ended; it leaves a `SignalsNote` in `RequestRecord.signals` and
only then completes the record's telemetry (`Telemetry.complete`). Each sink renders the note in
its own shape: span attributes and events (reference §9.3 names), the access log's `signals`
field, Prometheus label values, PostHog properties.
"""

from __future__ import annotations

from typing import Any

import orjson

from plano.observability import names as n

# One category that fired: (layer, category, count, severity 1..3).
Category = tuple[str, str, int, int]
# One signal instance: (type `layer.category.leaf`, message index, confidence, snippet,
# metadata as JSON text).
Instance = tuple[str, int, float, str, str]


class SignalsNote:
    """A conversation's signal report: quality bucket and score, user turns, efficiency, the
    categories that fired and every instance; `flagged` is the original's 🚩 condition."""

    __slots__ = (
        "categories",
        "efficiency",
        "flagged",
        "instances",
        "quality",
        "score",
        "turn_count",
    )

    def __init__(
        self,
        *,
        quality: str,
        score: float,
        turn_count: int,
        efficiency: float,
        flagged: bool,
        categories: tuple[Category, ...] = (),
        instances: tuple[Instance, ...] = (),
    ) -> None:
        self.quality = quality
        self.score = score
        self.turn_count = turn_count
        self.efficiency = efficiency
        self.flagged = flagged
        self.categories = categories
        self.instances = instances

    def span_attributes(self) -> dict[str, Any]:
        """`signals.quality`, `.quality_score`, `.turn_count`, `.efficiency_score` and, per
        category that fired, `signals.<layer>.<category>.count` / `.severity`."""
        out: dict[str, Any] = {
            n.ATTR_SIGNALS_QUALITY: self.quality,
            n.ATTR_SIGNALS_QUALITY_SCORE: float(self.score),
            n.ATTR_SIGNALS_TURN_COUNT: self.turn_count,
            n.ATTR_SIGNALS_EFFICIENCY: float(self.efficiency),
        }
        for layer, category, count, severity in self.categories:
            out[n.ATTR_SIGNALS_CATEGORY.format(layer, category, "count")] = count
            out[n.ATTR_SIGNALS_CATEGORY.format(layer, category, "severity")] = severity
        return out

    def span_events(self) -> list[tuple[str, dict[str, Any]]]:
        """One `signal.<type>` event per instance, with its type, message index, confidence,
        snippet and metadata (JSON)."""
        return [
            (
                n.EVENT_SIGNAL.format(kind),
                {
                    n.ATTR_SIGNAL_TYPE: kind,
                    n.ATTR_SIGNAL_MESSAGE_INDEX: index,
                    n.ATTR_SIGNAL_CONFIDENCE: float(confidence),
                    n.ATTR_SIGNAL_SNIPPET: snippet,
                    n.ATTR_SIGNAL_METADATA: metadata,
                },
            )
            for kind, index, confidence, snippet, metadata in self.instances
        ]

    def counts(self) -> dict[str, int]:
        """Instances per `layer.category`, for the categories that fired."""
        return {f"{layer}.{category}": count for layer, category, count, _ in self.categories}

    def types(self) -> list[str]:
        """The distinct signal types found, in the order first seen."""
        return list(dict.fromkeys(kind for kind, *_ in self.instances))

    def log_field(self) -> dict[str, Any]:
        """The access log's compact `signals` field (no snippets: they quote the user)."""
        return {
            "quality": self.quality,
            "score": self.score,
            "flagged": self.flagged,
            "turns": self.turn_count,
            "counts": self.counts(),
            "types": self.types(),
        }

    def posthog_properties(self) -> dict[str, Any]:
        """The `$ai_signals_*` properties of the request's `$ai_generation` event."""
        return {
            n.POSTHOG_SIGNALS_QUALITY: self.quality,
            n.POSTHOG_SIGNALS_SCORE: self.score,
            n.POSTHOG_SIGNALS_FLAGGED: self.flagged,
            n.POSTHOG_SIGNALS_CATEGORIES: self.counts(),
            n.POSTHOG_SIGNALS_TYPES: self.types(),
        }


def metadata_json(metadata: Any) -> str:
    """A signal's metadata as the JSON text its span event carries (`{}` when empty)."""
    if not metadata:
        return "{}"
    return orjson.dumps(metadata, default=str, option=orjson.OPT_SORT_KEYS).decode()
