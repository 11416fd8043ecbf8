"""Text normalisation shared by the analysers: folding, truncation, tokens, trigrams."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Final

MAX_CHARS: Final = 2000
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
    return tuple(_WORD.findall(text.lower().replace("'", "")))


def trigrams(text: str) -> frozenset[str]:
    return frozenset({text[i : i + 3] for i in range(len(text) - 2)})


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


class Text:
    """One message, normalised: `raw` is folded (case kept), `tokens` lower-case words.

    Token frequencies, their norm and the trigram set are computed on first use.
    """

    __slots__ = ("_freq", "_grams", "_norm", "joined", "raw", "similar", "tokens")

    def __init__(self, raw: str, tokens: tuple[str, ...]) -> None:
        self.raw = raw
        self.tokens = tokens
        self.joined = " ".join(tokens)
        self._freq: dict[str, int] | None = None
        self._norm = -1.0
        self._grams: frozenset[str] | None = None
        # repetition scores against earlier texts (identity-keyed; at most a few entries)
        self.similar: dict[Text, float] = {}

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
        if self._grams is None:
            self._grams = trigrams(self.joined)
        return self._grams


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
