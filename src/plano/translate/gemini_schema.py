"""JSON Schema → the OpenAPI-3.0 subset Gemini accepts for function parameters and response schemas.

Gemini's `Schema` object knows: type, format, title, description, nullable, enum, items,
properties, required, propertyOrdering, anyOf, minItems/maxItems, minProperties/maxProperties,
minLength/maxLength, pattern, minimum/maximum, default, example. It rejects the request when it
meets anything else (``additionalProperties``, ``$schema``, ``$defs``, ``$ref``, ``const``,
``oneOf``...), and for strings it accepts only the ``enum`` and ``date-time`` formats.

What we rewrite instead of dropping: a type list with ``"null"`` → the other type plus
``nullable: true``; ``const`` → a one-value ``enum``; ``oneOf`` → ``anyOf``; a single-entry
``allOf`` → its entry; local ``$ref`` (``#/$defs/X``, ``#/definitions/X``) → the definition,
inlined (recursion cut at a fixed depth). Types are written in Gemini's upper case.
"""

from __future__ import annotations

from typing import Any, Final

_KEPT: Final = frozenset(
    {
        "description",
        "title",
        "nullable",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "minLength",
        "maxLength",
        "pattern",
        "minimum",
        "maximum",
        "default",
        "example",
        "propertyOrdering",
    }
)
_FORMATS: Final = {
    "STRING": frozenset({"enum", "date-time"}),
    "NUMBER": frozenset({"float", "double"}),
    "INTEGER": frozenset({"int32", "int64"}),
}
_MAX_REF_DEPTH: Final = 8


def sanitize(schema: dict[str, Any]) -> dict[str, Any]:
    """A copy of `schema` that Gemini accepts (the input is not modified)."""
    defs: dict[str, Any] = {}
    for key in ("$defs", "definitions"):
        if isinstance(schema.get(key), dict):
            defs.update({f"#/{key}/{name}": sub for name, sub in schema[key].items()})
    return _clean(schema, defs, 0)


def _clean(node: Any, defs: dict[str, Any], depth: int) -> dict[str, Any]:
    if not isinstance(node, dict):
        return {}
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref)
        if target is None or depth >= _MAX_REF_DEPTH:
            out: dict[str, Any] = {"type": "OBJECT"} if target is not None else {}
            if isinstance(node.get("description"), str):
                out["description"] = node["description"]
            return out
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _clean(merged, defs, depth + 1)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and isinstance(all_of[0], dict):
        node = {**all_of[0], **{k: v for k, v in node.items() if k != "allOf"}}
    out = {k: v for k, v in node.items() if k in _KEPT}
    _type(node, out)
    _values(node, out)
    if isinstance(node.get("properties"), dict):
        out["properties"] = {
            name: _clean(sub, defs, depth) for name, sub in node["properties"].items()
        }
    if isinstance(node.get("required"), list):
        names = out.get("properties", {})
        out["required"] = [r for r in node["required"] if isinstance(r, str) and r in names]
    if isinstance(node.get("items"), dict):
        out["items"] = _clean(node["items"], defs, depth)
    variants = node.get("anyOf", node.get("oneOf"))
    if isinstance(variants, list):
        cleaned = [_clean(v, defs, depth) for v in variants]
        out["anyOf"] = [v for v in cleaned if v]
    return out


def _type(node: dict[str, Any], out: dict[str, Any]) -> None:
    kind = node.get("type")
    if isinstance(kind, list):
        rest = [t for t in kind if t != "null"]
        if len(rest) < len(kind):
            out["nullable"] = True
        kind = rest[0] if rest else None
    if isinstance(kind, str) and kind != "null":
        out["type"] = kind.upper()
        fmt = node.get("format")
        if isinstance(fmt, str) and fmt in _FORMATS.get(out["type"], ()):
            out["format"] = fmt
    elif kind == "null":
        out["nullable"] = True


def _values(node: dict[str, Any], out: dict[str, Any]) -> None:
    if "const" in node:
        out["enum"] = [str(node["const"])]
    elif isinstance(node.get("enum"), list):
        values = node["enum"]
        if all(isinstance(v, str) for v in values):
            out["enum"] = list(values)
        elif all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values):
            out["enum"] = [str(v) for v in values]
            out["type"] = "STRING"
    if "enum" in out:
        out.setdefault("type", "STRING")
