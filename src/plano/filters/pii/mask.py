"""Masks: what a `mask` action leaves of a value (enough to recognise it, never to use it). Masks
are not restored in the response."""

from __future__ import annotations

from typing import Final

_STARS: Final = "****"


def mask(entity: str, value: str) -> str:
    if entity == "email":
        local, _, domain = value.rpartition("@")
        return f"{local[:1]}***@{domain}"
    if entity in ("card", "phone"):
        digits = [c for c in value if c.isdigit()]
        return _STARS + "".join(digits[-4:])
    if entity == "iban":
        compact = value.replace(" ", "")
        return compact[:2] + _STARS + compact[-4:]
    if entity == "ip":
        if ":" in value:
            return value.split(":", 1)[0] + ":" + _STARS
        return value.split(".", 1)[0] + ".*.*.*"
    if entity == "name":
        return " ".join(w[:1] + "***" for w in value.split())
    if entity == "secret" and len(value) >= 16 and not value.startswith("-----"):
        return value[:4] + _STARS
    return _STARS
