"""Reading a model's JSON answer that is almost JSON: code fences, escaped quotes, single
quotes, trailing commas, text after the object, unclosed brackets."""

from __future__ import annotations

from typing import Any, Final

import orjson

_CLOSERS: Final = {"{": "}", "[": "]"}


def strip_fences(text: str) -> str:
    """The text inside a ```json ... ``` block (or the text itself, trimmed)."""
    t = text.strip()
    if t.startswith("```"):
        newline = t.find("\n")
        t = t[newline + 1 :] if newline >= 0 else t[3:]
        end = t.rfind("```")
        if end >= 0:
            t = t[:end]
    return t.strip()


def loads_repaired(text: str) -> Any:
    """The JSON value of `text`, repaired when it does not parse as it is; None if no repair
    works."""
    for candidate in _candidates(text):
        try:
            return orjson.loads(candidate)
        except orjson.JSONDecodeError:
            continue
    return None


def _candidates(text: str) -> list[str]:
    first = text.strip()
    out = [first]
    if '\\"' in first:
        out.append(first.replace('\\"', '"'))
    if "'" in first and '"' not in first:
        out.append(first.replace("'", '"'))
    return [c for base in out for c in (base, balance(base))]


def balance(text: str) -> str:
    """Cut text after the outermost value closes, drop trailing commas before a closer, close
    what is still open (an open string first)."""
    start = next((i for i, c in enumerate(text) if c in "{["), -1)
    if start < 0:
        return text
    stack: list[str] = []
    out: list[str] = []
    in_string = escaped = False
    for c in text[start:]:
        if in_string:
            out.append(c)
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
            continue
        if c == '"':
            in_string = True
        elif c in _CLOSERS:
            stack.append(_CLOSERS[c])
        elif c in "}]":
            if not stack or stack[-1] != c:
                continue  # a stray closer
            _drop_trailing_comma(out)
            stack.pop()
            out.append(c)
            if not stack:
                return "".join(out)
            continue
        out.append(c)
    if in_string:
        out.append('"')
    _drop_trailing_comma(out)
    out.extend(reversed(stack))
    return "".join(out)


def _drop_trailing_comma(out: list[str]) -> None:
    i = len(out) - 1
    while i >= 0 and out[i].isspace():
        i -= 1
    if i >= 0 and out[i] == ",":
        del out[i]
