"""A tool call's arguments checked against its target's parameters: required present, types
converted where the value clearly means the type (`"3"` for an int), enums enforced, defaults
filled in. Unknown argument names are dropped (the endpoint gets only what it declared)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from plano.agents.prompt_targets.tools import Parameter, Target

_TRUE: Final = frozenset({"true", "yes", "y", "1", "on"})
_FALSE: Final = frozenset({"false", "no", "n", "0", "off"})


class Unconvertible(ValueError):
    """A value that does not mean the parameter's type."""


@dataclass(frozen=True, slots=True)
class Checked:
    """Valid arguments, converted, defaults included, in parameter order."""

    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Invalid:
    """Why the call cannot be made: missing required names, or a value that does not fit."""

    missing: tuple[str, ...]
    problems: tuple[str, ...]

    @property
    def reason(self) -> str:
        parts = (
            [f"missing required parameter(s): {', '.join(self.missing)}"] if self.missing else []
        )
        return "; ".join([*parts, *self.problems])


def parse_arguments(raw: object) -> dict[str, Any] | None:
    """Tool-call arguments as an object: a mapping, or JSON text of one (None otherwise)."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        if not raw.strip():
            return {}
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return None
        return value if isinstance(value, dict) else None
    return None


def check(target: Target, raw: object) -> Checked | Invalid:
    args = parse_arguments(raw)
    if args is None:
        return Invalid((), ("arguments are not a JSON object",))
    out: dict[str, Any] = {}
    missing: list[str] = []
    problems: list[str] = []
    for p in target.parameters:
        value = args.get(p.name)
        if value is None or value == "":
            if p.default is not None:
                out[p.name] = p.default
            elif p.required:
                missing.append(p.name)
            continue
        try:
            out[p.name] = convert(p, value)
        except Unconvertible as exc:
            problems.append(f"{p.name}: {exc}")
    if missing or problems:
        return Invalid(tuple(missing), tuple(problems))
    return Checked(out)


def convert(p: Parameter, value: Any) -> Any:
    """`value` as `p`'s type, within its enum; raises `Unconvertible`."""
    converted = _CONVERT[p.type](value)
    if p.enum is None:
        return converted
    for allowed in p.enum:
        if allowed == converted and type(allowed) is type(converted):
            return allowed
        both_text = isinstance(allowed, str) and isinstance(converted, str)
        if both_text and allowed.casefold() == converted.casefold():
            return allowed
    shown = ", ".join(str(e) for e in p.enum)
    raise Unconvertible(f"{converted!r} is not one of: {shown}")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise Unconvertible(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(text)
        except ValueError:
            try:
                number = float(text)
            except ValueError:
                number = math.nan
            if math.isfinite(number) and number.is_integer():
                return int(number)
    raise Unconvertible(f"expected an integer, got {value!r}")


def _float(value: Any) -> float:
    if isinstance(value, bool):
        raise Unconvertible(f"expected a number, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise Unconvertible(f"expected a number, got {value!r}") from None
    else:
        raise Unconvertible(f"expected a number, got {value!r}")
    if not math.isfinite(number):
        raise Unconvertible(f"expected a finite number, got {value!r}")
    return number


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise Unconvertible(f"expected a boolean, got {value!r}")


def _str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise Unconvertible(f"expected a string, got {type(value).__name__}")


def _json_text(value: Any) -> Any:
    """A string holding JSON, decoded (a model may send a list or object as its JSON text)."""
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return None


def _list(value: Any) -> list[Any]:
    parsed = _json_text(value)
    if isinstance(parsed, list):
        return parsed
    raise Unconvertible(f"expected a list, got {value!r}")


def _dict(value: Any) -> dict[str, Any]:
    parsed = _json_text(value)
    if isinstance(parsed, dict):
        return parsed
    raise Unconvertible(f"expected an object, got {value!r}")


_CONVERT: Final[dict[str, Any]] = {
    "int": _int,
    "float": _float,
    "bool": _bool,
    "str": _str,
    "list": _list,
    "dict": _dict,
}
