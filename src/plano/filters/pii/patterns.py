"""The entity patterns and the checks that confirm their matches (Luhn, IBAN mod 97, digit counts,
address syntax, number boundaries).

Every pattern begins with a literal or a character class, never with a look-behind: the regex
engine then skips quickly to where a match can start (a leading look-behind makes it try every
position). The boundary a match must not touch is checked by a look-behind placed after the first
character(s) instead, or by the check.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Final

from plano.filters.pii.checks import IBAN_LENGTHS, iban_ok, luhn_ok

Check = Callable[[re.Match[str]], list[tuple[int, int]]]

# (pattern, substrings one of which the text must contain for the pattern to run)
SECRETS: Final = (
    (
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?"
        r"-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----",
        ("-----BEGIN",),
    ),
    (r"eyJ(?<![\w.-]eyJ)[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}", ("eyJ",)),
    (r"sk-(?<!\wsk-)[A-Za-z0-9_-]{20,}", ("sk-",)),  # OpenAI, Anthropic (sk-ant-), sk-proj-
    (r"A[KS]IA(?<!\wA[KS]IA)[0-9A-Z]{16}(?!\w)", ("AKIA", "ASIA")),
    (r"gh[pousr]_(?<!\wgh[pousr]_)[A-Za-z0-9]{30,255}(?!\w)", ("gh",)),
    (r"github_pat_(?<!\wgithub_pat_)[A-Za-z0-9_]{22,255}(?!\w)", ("github_pat_",)),
    (r"xox[bpaors]-(?<!\wxox[bpaors]-)[A-Za-z0-9-]{10,}", ("xox",)),
    (r"Bearer(?<!\wBearer)\s+(?P<v>[A-Za-z0-9._~+/-]{16,}=*)", ("Bearer",)),
)
EMAIL: Final = (
    r"[A-Za-z0-9](?<![\w.%+-][A-Za-z0-9])[A-Za-z0-9._%+-]{0,63}@"
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?![\w-])"
)
IBAN: Final = r"[A-Z](?<!\w[A-Z])[A-Z]\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"
CARD: Final = r"[2-6](?<![\w.+-][2-6])\d*(?:[ -]\d+)*"
_CARD_GROUPS: Final = 6  # 19 digits at most, groups of 3 or more when separated
IPV4: Final = r"\d{1,3}(?:\.\d{1,3}){3}"
IPV6: Final = (
    r"[0-9A-Fa-f:](?<![\w:.][0-9A-Fa-f:])"
    r"(?:[0-9A-Fa-f:]*:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f:]*)"
)
_END: Final = r"(?!\w|[ .-]\d)"
PHONES: Final = (
    # international: +country then groups (separated or not), 8 to 15 digits in all
    r"\+(?<![\w+]\+)[1-9]\d{0,2}(?:[ .-]?\(\d{1,4}\)|[ .-]?\d{1,5}){1,7}",
    # North American: (415) 555-2671, 415-555-2671, 415.555.2671, 415 555 2671
    r"\((?<![\w+(.-]\()(?<!\d \()\d{3}\) ?\d{3}[ .-]\d{4}" + _END,
    r"\d(?<![\w+(.-]\d)(?<!\d \d)\d{2}[ .-]\d{3}[ .-]\d{4}" + _END,
    # two-digit groups after a trunk 0 (France and alike): 06 12 34 56 78, 01.23.45.67.89
    r"0(?<![\w+.-]0)(?<!\d 0)[1-9](?:[ .-]\d{2}){4}" + _END,
    # trunk 0 and area code, then two groups (UK, Germany and alike): 020 7946 0958
    r"0(?<![\w+.-]0)(?<!\d 0)[1-9]\d{1,3} \d{3,4} \d{3,4}" + _END,
)
_SEPARATOR_SPLIT: Final = re.compile(r"([ -])")
_PHONE_GROUP: Final = re.compile(r"\+?\(?\d+\)?")


def ends_number(text: str, end: int) -> bool:
    """Whether a number may end at `end` (no letter or digit follows, nor a decimal part)."""
    if end >= len(text):
        return True
    nxt = text[end]
    if nxt.isalnum() or nxt == "_":
        return False
    return not (nxt in ".-" and end + 1 < len(text) and text[end + 1].isdigit())


def card(m: re.Match[str]) -> list[tuple[int, int]]:
    """The card numbers in the candidate: from each group, the longest run of groups that is
    one (a candidate may hold two cards written side by side, or a number and a card)."""
    at = m.start()
    tokens = _SEPARATOR_SPLIT.split(m.group(0))  # group, separator, group, ...
    groups, seps = tokens[::2], tokens[1::2]
    starts = []
    pos = 0
    for g in groups:
        starts.append(pos)
        pos += len(g) + 1
    out = []
    i, n = 0, len(groups)
    while i < n:
        end = _card_run(m.string, at, groups, seps, starts, i)
        if end is None:
            i += 1
            continue
        out.append((at + starts[i], at + starts[end - 1] + len(groups[end - 1])))
        i = end
    return out


def _card_run(
    text: str, at: int, groups: list[str], seps: list[str], starts: list[int], i: int
) -> int | None:
    """The end (exclusive group index) of the longest card number starting at group `i`."""
    if groups[i][:1] not in ("2", "3", "4", "5", "6"):
        return None
    n = len(groups)
    for k in range(min(n, i + _CARD_GROUPS), i, -1):
        run = groups[i:k]
        digits = "".join(run)
        if not 13 <= len(digits) <= 19:
            continue
        if k - i > 1 and (len(set(seps[i : k - 1])) > 1 or any(not 3 <= len(g) <= 6 for g in run)):
            continue
        if not luhn_ok(digits):
            continue
        if k == n and not ends_number(text, at + starts[k - 1] + len(groups[k - 1])):
            continue
        return k
    return None


def iban(m: re.Match[str]) -> list[tuple[int, int]]:
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


def ipv4(m: re.Match[str]) -> list[tuple[int, int]]:
    start, end = m.span()
    text = m.string
    if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "._"):
        return []
    for octet in m.group(0).split("."):
        if int(octet) > 255 or (len(octet) > 1 and octet[0] == "0"):
            return []
    return [(start, end)] if ends_number(text, end) else []


def ipv6(m: re.Match[str]) -> list[tuple[int, int]]:
    text = m.group(0)
    end = m.end()
    if end < len(m.string) and (m.string[end] in "_:" or not ends_number(m.string, end)):
        return []
    if not any(c.isdigit() for c in text) or (len(text) < 6 and not text.startswith("::")):
        return []  # "a::b", "::": too little to be an address someone wrote
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return []
    return [m.span()]


def international_phone(m: re.Match[str]) -> list[tuple[int, int]]:
    """The runs of the candidate's digit groups with 8 to 15 digits, longest first (the finder
    takes the first one no other entity holds: a number written right after a phone number is
    not part of it)."""
    at = m.start()
    counted = []
    total = 0
    for g in _PHONE_GROUP.finditer(m.group(0)):
        total += sum(c.isdigit() for c in g.group(0))
        counted.append((g.end(), total))
    out = []
    for i in range(len(counted) - 1, -1, -1):
        end, n = counted[i]
        if 8 <= n <= 15 and (i < len(counted) - 1 or ends_number(m.string, at + end)):
            out.append((at, at + end))
    return out


def names_regex(names: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = sorted({n.strip() for n in names}, key=len, reverse=True)
    escaped = (r"\s+".join(re.escape(w) for w in a.split()) for a in alternatives)
    return re.compile(r"(?<!\w)(?:" + "|".join(escaped) + r")(?!\w)", re.IGNORECASE)
