"""Text normalisation shared by the analysers: folding, truncation, tokens, trigrams."""

from __future__ import annotations

import math
import re
import threading
from collections import Counter, OrderedDict
from typing import Final

MAX_CHARS: Final = 2000
# Trigram sets of recent texts, shared by every cache that holds a text: at most this many
# trigrams in all (a trigram costs ~100 bytes in a set: ~20 MB), least recently used dropped.
GRAMS_KEPT: Final = 200_000
_HEAD_CHARS: Final = MAX_CHARS // 5  # head 20 %, tail the rest

_FOLD: Final = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u00b4": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2033": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2015": "-",
        "\u2212": "-",
        "\u2026": "...",
        "\u00a0": " ",
        "\u2009": " ",
        "\u202f": " ",
        "\u3002": ".",
        "\uff01": "!",
        "\uff1f": "?",
        "\uff0c": ",",
    }
)
_WORD: Final = re.compile(r"[^\W_]+")
# ASCII bytes that `_WORD` does not match (all but letters and digits) → a space
_ASCII_SPACES: Final = bytes(c if chr(c).isalnum() and c < 128 else 32 for c in range(256))


def truncate(text: str) -> str:
    """Texts over 2000 characters keep their first 20 % and last 80 % (joined by a space)."""
    if len(text) <= MAX_CHARS:
        return text
    tail = MAX_CHARS - _HEAD_CHARS - 1
    return f"{text[:_HEAD_CHARS]} {text[-tail:]}"


def fold(text: str) -> str:
    """Unicode punctuation folded to ASCII and whitespace collapsed (case kept)."""
    return " ".join((text if text.isascii() else text.translate(_FOLD)).split())


def tokens_of(text: str) -> tuple[str, ...]:
    """Lower-case word tokens; apostrophes are dropped first so "don't" and "dont" agree."""
    if text.isascii():  # the same tokens, by a byte table (in C) instead of the Unicode regex
        return tuple(text.lower().encode().translate(_ASCII_SPACES, b"'").decode().split())
    return tuple(_WORD.findall(text.lower().replace("'", "")))


def trigrams(text: str) -> frozenset[str]:
    return frozenset({text[i : i + 3] for i in range(len(text) - 2)})


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


class _GramCache:
    """Trigram sets by joined tokens, bounded by their total size (`GRAMS_KEPT`). Texts do not
    hold their sets: a cached state or feature set keeps its texts, and a 2000-character
    text's set is ~200 kB, so sets held by texts would multiply the caches' worst case."""

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._sets: OrderedDict[str, frozenset[str]] = OrderedDict()
        self._total = 0
        self._lock = threading.Lock()

    def get(self, joined: str) -> frozenset[str]:
        with self._lock:
            grams = self._sets.get(joined)
            if grams is not None:
                self._sets.move_to_end(joined)
                return grams
        grams = trigrams(joined)
        with self._lock:
            if joined not in self._sets:
                self._sets[joined] = grams
                self._total += len(grams)
                while self._total > self._budget and len(self._sets) > 1:
                    self._total -= len(self._sets.popitem(last=False)[1])
        return grams

    def total(self) -> int:
        return self._total

    def clear(self) -> None:
        with self._lock:
            self._sets.clear()
            self._total = 0


GRAMS: Final = _GramCache(GRAMS_KEPT)


class Text:
    """One message, normalised: `raw` is folded (case kept), `tokens` lower-case words.

    Token frequencies and their norm are computed on first use; the trigram set comes from
    the shared, bounded `GRAMS` cache.
    """

    __slots__ = ("_freq", "_norm", "joined", "raw", "similar", "tokens")

    def __init__(self, raw: str, tokens: tuple[str, ...]) -> None:
        self.raw = raw
        self.tokens = tokens
        self.joined = " ".join(tokens)
        self._freq: dict[str, int] | None = None
        self._norm = -1.0
        # repetition scores against earlier texts (by the hash of their `joined`; a few entries)
        self.similar: dict[int, float] = {}

    @classmethod
    def of(cls, text: str) -> Text:
        raw = fold(truncate(text))
        return cls(raw, tokens_of(raw))

    @property
    def freq(self) -> dict[str, int]:
        if self._freq is None:
            self._freq = Counter(self.tokens)
        return self._freq

    @property
    def norm(self) -> float:
        if self._norm < 0:
            self._norm = math.sqrt(sum(v * v for v in self.freq.values()))
        return self._norm

    def trigrams(self) -> frozenset[str]:
        return GRAMS.get(self.joined)


_CODE_FENCE: Final = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)", re.DOTALL)
_INLINE_CODE: Final = re.compile(r"`[^`\n]*`")
_LOG_LINE: Final = re.compile(
    r"""^\s*(?:
        \d{4}-\d\d-\d\d | \[?\d\d:\d\d:\d\d | traceback\b | file\ " | at\ [\w.$<>]+\(
        | \[?(?:error|warn|warning|info|debug|fatal|critical|trace)\]?[:\]\s]
        | [\w.]*(?:error|exception|warning):
        | \$[ ] | >>>[ ] | \#[ ]
    )""",
    re.IGNORECASE | re.VERBOSE,
)


_QUOTED: Final = re.compile(r'"[^"\n]{1,80}"')


def strip_code(text: str) -> str:
    """The prose of a message: fenced and inline code, log-looking lines and short double-quoted
    spans removed (a phrase the user mentions is not a phrase the user says)."""
    if not text.isascii():  # every character `_FOLD` maps is non-ASCII
        text = text.translate(_FOLD)
    if '"' in text:
        text = _QUOTED.sub(" ", text)
    if "`" in text or "~~~" in text:
        text = _INLINE_CODE.sub(" ", _CODE_FENCE.sub(" ", text))
    if "\n" not in text:
        return "" if _LOG_LINE.match(text) and len(text) > 40 else text
    return "\n".join(line for line in text.splitlines() if not _LOG_LINE.match(line))
