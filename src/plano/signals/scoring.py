"""Category severities, the quality score and bucket, and the 🚩 rule (the original's code)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Final

from plano.signals.report import CategoryResult, Signal
from plano.signals.taxonomy import CATEGORIES, ESCALATION, LEAF_TYPES, QUIT

BASE_SCORE: Final = 50.0
SATISFACTION_WEIGHT: Final = 20.0
MISALIGNMENT_RATE: Final = 0.3
BUCKETS: Final = ((75.0, "excellent"), (60.0, "good"), (40.0, "neutral"), (25.0, "poor"))


def severity(count: int) -> int:
    """0 for none, 1 for 1–2, 2 for 3–4, 3 for five or more."""
    if count == 0:
        return 0
    if count <= 2:
        return 1
    if count <= 4:
        return 2
    return 3


_CATEGORY_OF: Final = {f"{lay}.{cat}": n for n, (lay, cat) in enumerate(CATEGORIES)}
# leaf type → its category's position in `CATEGORIES`
CATEGORY_OF_LEAF: Final = {leaf: _CATEGORY_OF[leaf.rpartition(".")[0]] for leaf in LEAF_TYPES}


def categories(signals: Sequence[Signal]) -> tuple[CategoryResult, ...]:
    counts = [0] * len(CATEGORIES)
    for s in signals:
        n = _CATEGORY_OF.get(s.type.rpartition(".")[0])  # "layer.category"
        if n is not None:
            counts[n] += 1
    return _results(tuple(counts))


@functools.lru_cache(maxsize=1024)
def _results(counts: tuple[int, ...]) -> tuple[CategoryResult, ...]:
    """The results for these per-category counts (shared: they are immutable)."""
    return tuple(
        CategoryResult(layer, cat, count, severity(count))
        for (layer, cat), count in zip(CATEGORIES, counts, strict=True)
    )


def _by_name(results: Sequence[CategoryResult]) -> dict[str, CategoryResult]:
    return {r.category: r for r in results}


def _satisfaction_bonus(count: int) -> float:
    if count == 0:
        return 0.0
    return SATISFACTION_WEIGHT * (0.6 if count == 1 else 0.8 if count == 2 else 0.95)


def quality(
    signals: Sequence[Signal], results: Sequence[CategoryResult], user_turns: int
) -> tuple[str, float]:
    """(bucket, score). Escalation, quit, or severity 3 of disengagement / stagnation: severe, 0."""
    return _quality(results, any(s.type in (ESCALATION, QUIT) for s in signals), user_turns)


def _quality(results: Sequence[CategoryResult], severe: bool, user_turns: int) -> tuple[str, float]:
    cat = _by_name(results)
    if severe or cat["disengagement"].severity >= 3 or cat["stagnation"].severity >= 3:
        return "severe", 0.0
    score = BASE_SCORE + _satisfaction_bonus(cat["satisfaction"].count)
    score -= 10.0 * cat["disengagement"].severity
    misalignment = cat["misalignment"]
    if misalignment.severity > 0 and misalignment.count / max(user_turns, 1) > MISALIGNMENT_RATE:
        score -= 15.0
    if cat["stagnation"].count > 2:
        score -= 8.0 * cat["stagnation"].severity
    score -= 8.0 * cat["failure"].count + 5.0 * cat["loops"].count
    score -= 3.0 * cat["exhaustion"].count
    score = min(100.0, max(0.0, score))
    for floor, bucket in BUCKETS:
        if score >= floor:
            return bucket, score
    return "severe", score


def flagged(bucket: str, results: Sequence[CategoryResult]) -> bool:
    """🚩: quality poor or severe, any disengagement, stagnation count > 2, any failure or loop."""
    cat = _by_name(results)
    return (
        bucket in ("poor", "severe")
        or cat["disengagement"].count > 0
        or cat["stagnation"].count > 2
        or cat["failure"].count > 0
        or cat["loops"].count > 0
    )


@functools.lru_cache(maxsize=4096)
def verdict(
    counts: tuple[int, ...], severe: bool, user_turns: int
) -> tuple[tuple[CategoryResult, ...], str, float, bool]:
    """Category results, quality bucket and score, and the 🚩 of a conversation with these
    per-category counts (`severe`: it has an escalation or a quit), as `categories`,
    `quality` and `flagged` make them, remembered (a conversation that grows by a message
    mostly keeps its counts)."""
    results = _results(counts)
    bucket, score = _quality(results, severe, user_turns)
    return results, bucket, score, flagged(bucket, results)
