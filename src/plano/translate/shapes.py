"""Typed reads of a client's JSON document: the value of a field, or a 400 naming its JSON path.

The translators read client requests through these accessors, so a field of the wrong JSON type
(`"system": [{"type": "text", "text": null}]`, `"reasoning": {"effort": ["low"]}`) is refused at
decode time with `BadRequest` (`system[0].text: expected a string`) instead of surfacing later as
a `TypeError` in an upstream encoder. They are lenient on what they are not asked about: unknown
fields are never looked at. `null` counts as absent for the optional reads (`opt_*`), as the APIs
document. JSON booleans are not numbers here, although Python's `bool` is an `int`.

A path is built only when a read fails: callers pass the path of the containing object (`where`)
and the key, and the message joins them.
"""

from __future__ import annotations

from typing import Any

from plano.errors import BadRequest


def path_of(where: str, key: str | int) -> str:
    """`where.key` (or `where[key]` for a list index); just `key` at the top level."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


class ShapeError(BadRequest):
    """A field of the request body has the wrong JSON type."""


def shape_error(path: str, expected: str) -> ShapeError:
    """The 400 for a value of the wrong type at `path` (its `param` is the top-level field)."""
    top = path.split(".", 1)[0].split("[", 1)[0]
    return ShapeError(f"{path}: expected {expected}", param=top or None)


def obj(value: Any, path: str) -> dict[str, Any]:
    """`value` itself, which must be a JSON object."""
    if not isinstance(value, dict):
        raise shape_error(path, "an object")
    return value


def array(value: Any, path: str) -> list[Any]:
    """`value` itself, which must be a JSON array."""
    if not isinstance(value, list):
        raise shape_error(path, "an array")
    return value


def opt_str(doc: dict[str, Any], key: str, where: str = "") -> str | None:
    value = doc.get(key)
    if value is None or isinstance(value, str):
        return value
    raise shape_error(path_of(where, key), "a string")


def req_str(doc: dict[str, Any], key: str, where: str = "") -> str:
    """A string field that must be present (a text block's `text`)."""
    value = doc.get(key)
    if isinstance(value, str):
        return value
    raise shape_error(path_of(where, key), "a string")


def str_or(doc: dict[str, Any], key: str, where: str = "", default: str = "") -> str:
    """A string field, `default` when absent or null."""
    value = doc.get(key)
    if value is None:
        return default
    if isinstance(value, str):
        return value
    raise shape_error(path_of(where, key), "a string")


def opt_int(doc: dict[str, Any], key: str, where: str = "") -> int | None:
    value = doc.get(key)
    if value is None or (type(value) is int):
        return value
    raise shape_error(path_of(where, key), "an integer")


def opt_number(doc: dict[str, Any], key: str, where: str = "") -> float | None:
    value = doc.get(key)
    if value is None or (isinstance(value, int | float) and type(value) is not bool):
        return value
    raise shape_error(path_of(where, key), "a number")


def opt_bool(doc: dict[str, Any], key: str, where: str = "") -> bool | None:
    value = doc.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise shape_error(path_of(where, key), "a boolean")


def opt_obj(doc: dict[str, Any], key: str, where: str = "") -> dict[str, Any] | None:
    value = doc.get(key)
    if value is None or isinstance(value, dict):
        return value
    raise shape_error(path_of(where, key), "an object")


def opt_list(doc: dict[str, Any], key: str, where: str = "") -> list[Any]:
    """An array field, empty when absent or null."""
    value = doc.get(key)
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise shape_error(path_of(where, key), "an array")


def stop_list(doc: dict[str, Any], key: str) -> list[str]:
    """Stop sequences: a string or an array of strings (absent or null: none)."""
    value = doc.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        for i, s in enumerate(value):
            if not isinstance(s, str):
                raise shape_error(path_of(key, i), "a string")
        return value
    raise shape_error(key, "a string or an array of strings")
