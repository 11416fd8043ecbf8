"""Finding PII in text: one compiled pattern set per filter, built at config load.

Entities are searched in priority order (secrets, emails, IBANs, cards, IP addresses, phones, then
configured names); a later match that overlaps an earlier one is dropped, so a card number is
never also a phone number and a name inside an email stays part of the email. Patterns that can
match ordinary numbers are confirmed by a check (Luhn, IBAN mod 97, digit counts, `ipaddress`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from plano.filters.pii.checks import IBAN_LENGTHS, iban_ok, luhn_ok

Span = tuple[int, int, str]  # start, end, entity
Check = Callable[[re.Match[str]], list[tuple[int, int]]]

_SECRETS: Final = (
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
    r"(?<![\w.-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",
    r"\b(?:sk|rk|pk)-(?:ant-|proj-|live-|test-)?[A-Za-z0-9_-]{20,}",
    r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",
    r"\b(?:gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
    r"\bxox[bpaors]-[A-Za-z0-9-]{10,}",
    r"\bBearer\s+(?P<v>[A-Za-z0-9._~+/-]{16,}=*)",
)
_EMAIL: Final = (
    r"(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])"
)
_IBAN: Final = r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"
# zero-width: the candidate is group 1, and the next candidate may start inside it
_CARD: Final = r"(?<![\w.+-])(?=([2-6]\d*(?:[ -]\d+){0,7}))"
_IPV4_OCTET: Final = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4: Final = rf"(?<![\w.])(?:{_IPV4_OCTET}\.){{3}}{_IPV4_OCTET}(?![\w]|\.\d)"
_IPV6: Final = (
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{0,4})(?![\w:])"
)
_PHONES: Final = (
    # international: +country then 2 to 7 groups (separated or not), 8 to 15 digits in all
    r"(?<![\w+])(?=(\+[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\)|[ .-]?\d{1,5}){1,7}))",
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671
    r"(?<![\w+(.-])(?<!\d )(?:\(\d{3}\) ?|\d{3}[ .-])\d{3}[ .-]\d{4}(?!\w|[ .-]\d)",
    # two-digit groups after a trunk 0 (France and alike): 06 12 34 56 78, 01.23.45.67.89
    r"(?<![\w+.-])(?<!\d )0[1-9](?:[ .-]\d{2}){4}(?!\w|[ .-]\d)",
    # trunk 0 and area code, then two groups (UK, Germany and alike): 020 7946 0958
    r"(?<![\w+.-])(?<!\d )0[1-9]\d{1,3} \d{3,4} \d{3,4}(?!\w|[ .-]\d)",
)
_NON_DIGIT: Final = re.compile(r"\D")
_SEPARATOR_SPLIT: Final = re.compile(r"([ -])")
_PHONE_GROUP: Final = re.compile(r"\+?\(?\d+\)?")


@dataclass(frozen=True, slots=True)
class Pattern:
    entity: str
    regex: re.Pattern[str]
    check: Check | None = None


def _card(m: re.Match[str]) -> list[tuple[int, int]]:
    """The longest run of the candidate's digit groups that is a card number (the candidate may
    run on into the next number: two cards written side by side are two)."""
    text = m.group(1)
    at = m.start(1)
    tokens = _SEPARATOR_SPLIT.split(text)  # group, separator, group, ...
    groups, seps = tokens[::2], tokens[1::2]
    for k in range(len(groups), 0, -1):
        digits = "".join(groups[:k])
        if not 13 <= len(digits) <= 19:
            continue
        if k > 1 and (len(set(seps[: k - 1])) > 1 or any(not 3 <= len(g) <= 6 for g in groups[:k])):
            continue
        if luhn_ok(digits):
            size = sum(map(len, groups[:k])) + k - 1
            if k == len(groups) and not _ends_number(m.string, at + size):
                return []
            return [(at, at + size)]
    return []


def _ends_number(text: str, end: int) -> bool:
    """Whether a number may end at `end` (no letter or digit follows, nor a decimal part)."""
    if end >= len(text):
        return True
    nxt = text[end]
    if nxt.isalnum() or nxt == "_":
        return False
    return not (nxt in ".-" and end + 1 < len(text) and text[end + 1].isdigit())


def _iban(m: re.Match[str]) -> list[tuple[int, int]]:
    """The IBAN at the start of the match, cut to its country's length (the pattern may run on
    into the next word)."""
    text = m.group(0)
    want = IBAN_LENGTHS.get(text[:2])
    if want is None:
        return []
    seen = 0
    for i, ch in enumerate(text):
        if ch != " ":
            seen += 1
            if seen == want:
                end = i + 1
                if end < len(text) and text[end] != " ":  # the IBAN must end at a boundary
                    return []
                ok = iban_ok(text[:end].replace(" ", ""))
                return [(m.start(), m.start() + end)] if ok else []
    return []


def _ipv6(m: re.Match[str]) -> list[tuple[int, int]]:
    text = m.group(0)
    if not any(c.isdigit() for c in text) or (len(text) < 6 and not text.startswith("::")):
        return []  # "a::b", "::": too little to be an address someone wrote
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return []
    return [m.span()]


def _international_phone(m: re.Match[str]) -> list[tuple[int, int]]:
    """The runs of the candidate's digit groups with 8 to 15 digits, longest first (the finder
    takes the first one no other entity holds: a number written right after a phone number is
    not part of it)."""
    text = m.group(1)
    at = m.start(1)
    ends = [(g.end(), sum(c.isdigit() for c in g.group(0))) for g in _PHONE_GROUP.finditer(text)]
    total = 0
    counted = []
    for end, n in ends:
        total += n
        counted.append((end, total))
    out = []
    for i in range(len(counted) - 1, -1, -1):
        end, n = counted[i]
        if 8 <= n <= 15 and (i < len(counted) - 1 or _ends_number(m.string, at + end)):
            out.append((at, at + end))
    return out


def _names_regex(names: Iterable[str]) -> re.Pattern[str]:
    alternatives = sorted({n.strip() for n in names}, key=len, reverse=True)
    escaped = (r"\s+".join(re.escape(w) for w in a.split()) for a in alternatives)
    return re.compile(r"(?<!\w)(?:" + "|".join(escaped) + r")(?!\w)", re.IGNORECASE)


def _patterns(entity: str, names: Iterable[str]) -> list[Pattern]:
    if entity == "secret":
        return [Pattern(entity, re.compile(p)) for p in _SECRETS]
    if entity == "email":
        return [Pattern(entity, re.compile(_EMAIL))]
    if entity == "iban":
        return [Pattern(entity, re.compile(_IBAN), _iban)]
    if entity == "card":
        return [Pattern(entity, re.compile(_CARD), _card)]
    if entity == "ip":
        return [Pattern(entity, re.compile(_IPV6), _ipv6), Pattern(entity, re.compile(_IPV4))]
    if entity == "phone":
        first, *rest = _PHONES
        return [
            Pattern(entity, re.compile(first), _international_phone),
            *(Pattern(entity, re.compile(p)) for p in rest),
        ]
    return [Pattern(entity, _names_regex(names))]


PRIORITY: Final = ("secret", "email", "iban", "card", "ip", "phone", "name")


class Detector:
    """The patterns of one filter's entities (compiled once, at config load)."""

    __slots__ = ("_patterns",)

    def __init__(self, entities: Iterable[str], names: Iterable[str] = ()) -> None:
        wanted = set(entities)
        names = tuple(names)
        self._patterns: tuple[Pattern, ...] = tuple(
            p
            for entity in PRIORITY
            if entity in wanted and (entity != "name" or names)
            for p in _patterns(entity, names)
        )

    def find(self, text: str) -> list[Span]:
        """The entities in `text`, as (start, end, entity), in order, never overlapping."""
        taken: list[Span] = []
        for p in self._patterns:
            for m in p.regex.finditer(text):
                if p.check is not None:
                    spans = p.check(m)
                elif "v" in p.regex.groupindex:
                    spans = [m.span("v")]
                else:
                    spans = [m.span()]
                for s, e in spans:
                    if not any(s < te and ts < e for ts, te, _ in taken):
                        taken.append((s, e, p.entity))
        taken.sort()
        return taken


def entity_counts(spans: Iterable[Span]) -> Mapping[str, int]:
    out: dict[str, int] = {}
    for _, _, entity in spans:
        out[entity] = out.get(entity, 0) + 1
    return out
