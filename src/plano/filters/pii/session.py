"""One request's PII state, kept in the request's `FilterContext.state` between the input and the
output chain (never stored beyond the request): the placeholders given so far and the values they
stand for, and what was found (counts only, for telemetry)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

import orjson

PLACEHOLDER: Final = re.compile(r"<([A-Z]+)_(\d+)>")
TAGS: Final = {
    "email": "EMAIL",
    "phone": "PHONE",
    "card": "CARD",
    "iban": "IBAN",
    "ip": "IP",
    "secret": "SECRET",
    "name": "NAME",
}


class Session:
    """Placeholders of one request: the same value gets the same placeholder every time;
    placeholders already written in the client's own text are never reused."""

    __slots__ = ("_by_value", "_next", "_prefixes", "counts", "originals", "reserved")

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._next: dict[str, int] = {}
        self._prefixes: frozenset[str] | None = None
        self.originals: dict[str, str] = {}  # placeholder -> the value it replaced
        self.reserved: set[str] = set()  # placeholder-like text the client wrote itself
        self.counts: dict[tuple[str, str], int] = {}  # (entity, action) -> occurrences

    def placeholder(self, entity: str, value: str) -> str:
        key = (entity, value)
        found = self._by_value.get(key)
        if found is not None:
            return found
        tag = TAGS[entity]
        n = self._next.get(tag, 0)
        while True:
            n += 1
            candidate = f"<{tag}_{n}>"
            if candidate not in self.reserved:
                break
        self._next[tag] = n
        self._by_value[key] = candidate
        self.originals[candidate] = value
        self._prefixes = None
        return candidate

    def note(self, entity: str, action: str) -> None:
        key = (entity, action)
        self.counts[key] = self.counts.get(key, 0) + 1

    def prefixes(self) -> frozenset[str]:
        """Every proper prefix of a placeholder given (what a stream may have to hold back)."""
        found = self._prefixes
        if found is None:
            found = self._prefixes = frozenset(
                p[:i] for p in self.originals for i in range(1, len(p))
            )
        return found


def restore_text(text: str, originals: Mapping[str, str], *, escaped: bool = False) -> str:
    """`text` with every placeholder of `originals` replaced by its value (JSON-escaped when
    `text` is JSON source, as tool-call arguments are)."""
    if "<" not in text:
        return text

    def value(m: re.Match[str]) -> str:
        found = originals.get(m.group(0))
        if found is None:
            return m.group(0)
        return _json_escaped(found) if escaped else found

    return PLACEHOLDER.sub(value, text)


def _json_escaped(value: str) -> str:
    return orjson.dumps(value).decode()[1:-1]
