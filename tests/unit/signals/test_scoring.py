"""Severity buckets, the quality formula and the 🚩 rule, at their boundaries."""

from __future__ import annotations

import pytest

from plano.signals.report import Signal
from plano.signals.scoring import categories, flagged, quality, severity


def sig(leaf: str, n: int = 1) -> list[Signal]:
    return [Signal(leaf, i, 1.0, "") for i in range(n)]


@pytest.mark.parametrize(
    ("count", "level"), [(0, 0), (1, 1), (2, 1), (3, 2), (4, 2), (5, 3), (9, 3)]
)
def test_severity(count: int, level: int) -> None:
    assert severity(count) == level


def score(signals: list[Signal], turns: int = 10) -> tuple[str, float]:
    return quality(signals, categories(signals), turns)


def test_neutral_baseline_and_satisfaction_steps() -> None:
    assert score([]) == ("neutral", 50.0)
    assert score(sig("interaction.satisfaction.gratitude")) == ("good", 62.0)
    assert score(sig("interaction.satisfaction.gratitude", 2)) == ("good", 66.0)
    assert score(sig("interaction.satisfaction.gratitude", 3)) == ("good", 69.0)
    assert score(sig("interaction.satisfaction.gratitude", 7)) == ("good", 69.0)


def test_severe_short_circuits() -> None:
    assert score(sig("interaction.disengagement.escalation")) == ("severe", 0.0)
    assert score(sig("interaction.disengagement.quit")) == ("severe", 0.0)
    assert score(sig("interaction.disengagement.negative_stance", 5)) == ("severe", 0.0)
    assert score(sig("interaction.disengagement.negative_stance", 4))[0] != "severe"
    assert score(sig("interaction.stagnation.repetition", 5)) == ("severe", 0.0)


def test_misalignment_rate_threshold() -> None:
    three = sig("interaction.misalignment.correction", 3)
    assert score(three, turns=10) == ("neutral", 50.0)  # 0.3 is not > 0.3
    assert score(three, turns=9) == ("poor", 35.0)


def test_stagnation_only_counts_above_two() -> None:
    assert score(sig("interaction.stagnation.repetition", 2)) == ("neutral", 50.0)
    assert score(sig("interaction.stagnation.repetition", 3)) == (
        "poor",
        34.0,
    )  # 50 − 8 · severity 2


def test_execution_and_environment_penalties() -> None:
    assert score(sig("execution.failure.bad_query")) == ("neutral", 42.0)
    assert score(sig("execution.loops.retry")) == ("neutral", 45.0)
    assert score(sig("environment.exhaustion.timeout")) == ("neutral", 47.0)
    assert score(sig("execution.failure.bad_query", 4)) == ("severe", 18.0)
    assert score(sig("execution.failure.bad_query", 9)) == ("severe", 0.0)  # clamped


def test_bucket_floors() -> None:
    assert score(sig("interaction.disengagement.negative_stance", 1)) == ("neutral", 40.0)
    assert score(sig("interaction.disengagement.negative_stance", 3)) == ("poor", 30.0)
    assert score(sig("execution.loops.retry", 5)) == ("poor", 25.0)
    mixed = sig("execution.loops.retry", 5) + sig("environment.exhaustion.timeout")
    assert score(mixed) == ("severe", 22.0)


def test_flag_rule() -> None:
    def flag(signals: list[Signal], bucket: str = "neutral") -> bool:
        return flagged(bucket, categories(signals))

    assert not flag([])
    assert flag([], "poor") and flag([], "severe")
    assert flag(sig("interaction.disengagement.negative_stance"))
    assert not flag(sig("interaction.stagnation.repetition", 2))
    assert flag(sig("interaction.stagnation.repetition", 3))
    assert flag(sig("execution.failure.state_error"))
    assert flag(sig("execution.loops.oscillation"))
    assert not flag(sig("environment.exhaustion.timeout", 4))
    assert not flag(sig("interaction.misalignment.correction", 2))
