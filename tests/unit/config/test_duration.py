"""Envoy-style durations: "30s", "0.005s", "500ms", "2m", "1h"."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plano.config import parse_duration
from tests.unit.config.cases import BASE, assert_problem, load, one_error


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("0.005s", 0.005),
        ("300s", 300.0),
        ("500ms", 0.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        (".5s", 0.5),
        (" 10s ", 10.0),
        ("1e-3s", 0.001),
        ("45", 45.0),
        (12, 12.0),
        (1.5, 1.5),
        ("0s", 0.0),
    ],
)
def test_parses(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "bad", ["", "s", "10 sec", "10d", "-1s", "1.2.3s", "abc", True, None, [1], -3]
)
def test_refuses(bad: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


@given(st.floats(min_value=0, max_value=1e9, allow_nan=False), st.sampled_from(sorted(UNITS)))
def test_number_and_unit(value: float, unit: str) -> None:
    assert math.isclose(parse_duration(f"{value!r}{unit}"), value * UNITS[unit], rel_tol=1e-12)


@given(st.integers(min_value=0, max_value=10**9))
def test_integer_seconds(value: int) -> None:
    assert parse_duration(f"{value}s") == value
    assert parse_duration(value) == value


def test_listener_timeout_in_config() -> None:
    cfg = load(BASE.replace("type: model", "type: model\n    timeout: 500ms"))
    assert cfg.model_listener.timeout == 0.5


def test_bad_timeout_names_its_line() -> None:
    problem = one_error(BASE.replace("type: model", "type: model\n    timeout: soon"))
    assert_problem(problem, "listeners[0].timeout", 5, "'soon' is not a duration")
