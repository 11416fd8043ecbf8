"""Finding PII in text: one compiled pattern set per filter, built at config load.

Entities are searched in priority order (secrets, emails, IBANs, cards, IP addresses, phones, then
configured names); a later match that overlaps an earlier one is dropped, so a card number is
never also a phone number and a name inside an email stays part of the email. Patterns that can
match ordinary numbers are confirmed by a check (`patterns`).

A pattern runs only when the text can hold a match: a substring it needs (`@`, `sk-`, a name's
first word...) or a digit. Text without any costs a few substring searches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Final

from plano.filters.pii import patterns as p

Span = tuple[int, int, str]  # start, end, entity

_DIGITS: Final = "0123456789"
# one of these is in every secret the patterns find (single characters are found fastest)
_SECRET_HINTS: Final = ("-", "_", "J", "B", "IA")


@dataclass(frozen=True, slots=True)
class Pattern:
    """One regex of an entity, and when it runs: only if the text contains one of `needs` (in
    the case-folded text when `folded`) and at least `digits` digits. With `anchor`, the regex
    is tried only around each occurrence of that character (after walking back over up to
    `back_max` characters of `back`), instead of scanning the whole text."""

    entity: str
    regex: re.Pattern[str]
    check: p.Check | None = None
    needs: tuple[str, ...] = ()
    digits: int = 0
    folded: bool = False
    anchored: bool = False  # tried only where one of `needs` starts (a name's first word)
    anchor: str = ""
    back: str = ""
    back_max: int = 0


_HEX: Final = "0123456789abcdefABCDEF"
_LOCAL: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"


def _patterns(entity: str, names: tuple[str, ...]) -> list[Pattern]:
    if entity == "secret":
        return [Pattern(entity, re.compile(r), needs=needs) for r, needs in p.SECRETS]
    if entity == "email":
        email = re.compile(p.EMAIL)
        return [Pattern(entity, email, needs=("@",), anchor="@", back=_LOCAL, back_max=64)]
    if entity == "iban":
        return [Pattern(entity, re.compile(p.IBAN), p.iban, digits=8)]
    if entity == "card":
        return [Pattern(entity, re.compile(p.CARD), p.card, digits=13)]
    if entity == "ip":
        v6, v4 = re.compile(p.IPV6), re.compile(p.IPV4)
        return [
            Pattern(entity, v6, p.ipv6, needs=(":",), digits=1, anchor=":", back=_HEX, back_max=4),
            Pattern(
                entity,
                v4,
                p.ipv4,
                needs=(".",),
                digits=4,
                anchor=".",
                back="0123456789",
                back_max=3,
            ),
        ]
    if entity == "phone":
        first, *rest = p.PHONES
        return [
            Pattern(entity, re.compile(first), p.international_phone, needs=("+",), digits=8),
            *(Pattern(entity, re.compile(r), digits=8) for r in rest),
        ]
    first_words = tuple(sorted({n.split()[0].casefold() for n in names}))
    return [Pattern(entity, p.names_regex(names), needs=first_words, folded=True, anchored=True)]


PRIORITY: Final = ("secret", "email", "iban", "card", "ip", "phone", "name")


class Detector:
    """The patterns of one filter's entities (compiled once, at config load)."""

    __slots__ = ("_patterns",)

    def __init__(self, entities: Iterable[str], names: Iterable[str] = ()) -> None:
        wanted = set(entities)
        listed = tuple(names)
        self._patterns: tuple[Pattern, ...] = tuple(
            pattern
            for entity in PRIORITY
            if entity in wanted and (entity != "name" or listed)
            for pattern in _patterns(entity, listed)
        )

    def find(self, text: str) -> list[Span]:
        """The entities in `text`, as (start, end, entity), in order, never overlapping."""
        taken: list[Span] = []
        digits = -1
        folded: str | None = None
        secrets: bool | None = None
        for pat in self._patterns:
            if pat.entity == "secret":
                if secrets is None:
                    secrets = any(map(text.__contains__, _SECRET_HINTS))
                if not secrets:
                    continue
            if pat.digits:
                if digits < 0:
                    digits = _digit_count(text)
                if digits < pat.digits:
                    continue
            if pat.needs:
                if pat.folded:
                    if folded is None:
                        folded = text.casefold()
                    seen = folded
                else:
                    seen = text
                for need in pat.needs:
                    if need in seen:
                        break
                else:
                    continue
            if pat.anchor:
                matches: Iterable[re.Match[str]] = _anchored(pat, text)
            elif pat.anchored and folded is not None and len(folded) == len(text):
                matches = _at_words(pat, text, folded)
            else:
                matches = pat.regex.finditer(text)
            _add(pat, matches, taken)
        taken.sort()
        return taken


def _digit_count(text: str) -> int:
    if not any(map(text.__contains__, _DIGITS)):  # `in` is far cheaper than a regex scan
        return 0
    return sum(map(text.count, _DIGITS))


def _anchored(pat: Pattern, text: str) -> Iterator[re.Match[str]]:
    """The regex's matches that start just before an anchor character (at most `back_max`
    characters of `back`) and reach past it."""
    find, match = text.find, pat.regex.match
    anchor, back, lowest = pat.anchor, pat.back, pat.back_max
    i = find(anchor)
    while i >= 0:
        start = i
        limit = max(0, i - lowest)
        while start > limit and text[start - 1] in back:
            start -= 1
        m = match(text, start)
        while m is None and start < i:
            start += 1
            m = match(text, start)
        if m is not None and m.end() > i:
            yield m
            i = find(anchor, m.end())
        else:
            i = find(anchor, i + 1)


def _at_words(pat: Pattern, text: str, folded: str) -> list[re.Match[str]]:
    """The regex's matches starting where one of `needs` starts in `folded` (same length as
    `text`, so its positions are `text`'s)."""
    out: list[re.Match[str]] = []
    match = pat.regex.match
    for word in pat.needs:
        i = folded.find(word)
        while i >= 0:
            m = match(text, i)
            if m is not None:
                out.append(m)
            i = folded.find(word, i + 1)
    out.sort(key=lambda m: m.start())
    return out


def _add(pat: Pattern, matches: Iterable[re.Match[str]], taken: list[Span]) -> None:
    check = pat.check
    by_group = "v" in pat.regex.groupindex
    for m in matches:
        if check is not None:
            spans = check(m)
        elif by_group:
            spans = [m.span("v")]
        else:
            spans = [m.span()]
        for s, e in spans:
            if not any(s < te and ts < e for ts, te, _ in taken):
                taken.append((s, e, pat.entity))
