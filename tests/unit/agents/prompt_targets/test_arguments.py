from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plano.agents.prompt_targets.arguments import Checked, Invalid, check
from plano.agents.prompt_targets.tools import Parameter, Target


def param(name: str, type_: str, **kw: Any) -> Parameter:
    return Parameter(
        name,
        kw.get("description", name),
        type_,
        kw.get("required", False),
        kw.get("default"),
        kw.get("enum"),
        None,
    )


TARGET = Target(
    name="t",
    description="d",
    default=False,
    dispatch=True,
    system_prompt=None,
    parameters=(
        param("city", "str", required=True),
        param("days", "int", required=True),
        param("ratio", "float"),
        param("confirm", "bool", default=False),
        param("unit", "str", enum=("Celsius", "Fahrenheit")),
        param("tags", "list"),
    ),
    endpoint=None,
)


def test_values_are_converted_and_defaults_filled() -> None:
    raw = '{"city": "Paris", "days": "3", "ratio": 2, "unit": "celsius", "extra": 1}'
    assert check(TARGET, raw) == Checked(
        {"city": "Paris", "days": 3, "ratio": 2.0, "confirm": False, "unit": "Celsius"}
    )


@pytest.mark.parametrize(
    ("args", "missing", "problem"),
    [
        ({"days": 3}, ("city",), None),
        ({"city": "", "days": 3}, ("city",), None),
        ({"city": "P", "days": "many"}, (), "days"),
        ({"city": "P", "days": 3.5}, (), "days"),
        ({"city": "P", "days": True}, (), "days"),
        ({"city": "P", "days": 1, "unit": "kelvin"}, (), "unit"),
        ({"city": "P", "days": 1, "confirm": "perhaps"}, (), "confirm"),
        ({"city": "P", "days": 1, "tags": "a,b"}, (), "tags"),
        ({"city": "P", "days": 1, "ratio": "nan"}, (), "ratio"),
    ],
)
def test_problems_are_named(
    args: dict[str, Any], missing: tuple[str, ...], problem: str | None
) -> None:
    out = check(TARGET, args)
    assert isinstance(out, Invalid)
    assert out.missing == missing
    if problem is not None:
        assert out.problems[0].startswith(problem)
    assert out.reason


def test_not_an_object() -> None:
    assert isinstance(check(TARGET, "[1, 2]"), Invalid)
    assert isinstance(check(TARGET, "{nope"), Invalid)
    assert isinstance(check(TARGET, 42), Invalid)


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text())
NAMES = st.sampled_from(["city", "days", "ratio", "confirm", "unit", "tags", "other"])


@given(st.one_of(st.text(), st.dictionaries(NAMES, SCALARS | st.lists(SCALARS, max_size=3))))
def test_any_input_is_checked_or_invalid(raw: Any) -> None:
    out = check(TARGET, raw)
    assert isinstance(out, Checked | Invalid)
    if isinstance(out, Checked):
        assert isinstance(out.arguments["city"], str) and isinstance(out.arguments["days"], int)
