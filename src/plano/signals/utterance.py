"""A user or assistant message prepared once for every interaction analyser.

The per-text work (normalisation, phrase matching, stance indicators, trigram sets) depends on
the text alone, and a chat client resends the whole history with every request, so it is cached
by text (bounded LRU): a request pays for its new messages, not for the history again.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Final, NamedTuple

from plano.signals.conversation import Row
from plano.signals.lexicon import lexicon
from plano.signals.matcher import Match
from plano.signals.text import Text, strip_code, truncate

SNIPPET_CHARS: Final = 100
# Bounded caches keyed by the (truncated, ≤ 2000 characters) text. A text's tokens take ~13 bytes
# a character (its trigram set is in the separate, bounded `text.GRAMS`); with the fold states
# (`analyse.STATE_CHARS`) all the analysers' caches stay under ~45 MB per process in the worst
# case (every text distinct and 2000 characters long: tests/unit/signals/test_memory.py), a few MB
# typically.
USER_TEXTS: Final = 256
ASSISTANT_TEXTS: Final = 128
CAPS_MIN_LETTERS: Final = 10
CAPS_MIN_RATIO: Final = 0.8
ACRONYM_MAX_LETTERS: Final = 4
_LETTER_RUN: Final = re.compile(r"[^\W\d_]+")
_PUNCT: Final = re.compile(r"\?\?|!!|[?!]{3,}")  # matches only where two of ? and ! meet
_NO_HITS: Final[Mapping[str, Match]] = {}
_ASCII_CAPITALS: Final = bytes(range(ord("A"), ord("Z") + 1))


def shouting(text: str, common_words: frozenset[str]) -> float | None:
    """The upper-case ratio when `text` is shouted, else None.

    Short all-caps words that are not common words ("AWS", "HTTP", "GCP") are acronyms and are
    left out of both counts, so a polite question full of acronyms is not shouting.
    """
    if text.isascii():  # capitals counted in C: the bytes left when they are deleted
        data = text.encode()
        capitals = len(data) - len(data.translate(None, _ASCII_CAPITALS))
    else:
        capitals = sum(map(str.isupper, text))
    if capitals < CAPS_MIN_LETTERS * CAPS_MIN_RATIO:
        return None  # fewer than 8 capitals in all: cannot be 80 % of 10 counted letters
    letters = upper = 0
    for word in _LETTER_RUN.findall(text):
        if len(word) <= ACRONYM_MAX_LETTERS and word.isupper() and word.lower() not in common_words:
            continue
        letters += len(word)
        upper += sum(1 for c in word if c.isupper())
    if letters >= CAPS_MIN_LETTERS and upper / letters >= CAPS_MIN_RATIO:
        return upper / letters
    return None


class Features(NamedTuple):
    """What the analysers need from one message text (no position: shared between requests;
    a tuple: cheaper to build than a frozen dataclass)."""

    prose: Text
    full: Text
    hits: Mapping[str, Match]  # phrase list name → the first phrase of that list it matches
    caps_ratio: float | None
    punctuation: str  # runs of ?? / !! / ?!? (empty if none)
    positive_start: bool
    content: frozenset[str]  # non-stopword tokens of the prose
    snippet: str


def _punctuation(raw: str) -> str:
    if "??" not in raw and "!!" not in raw and "?!" not in raw and "!?" not in raw:
        return ""
    return "".join(_PUNCT.findall(raw))[:20]


def _snippet(text: Text) -> str:
    raw = text.raw
    return raw if len(raw) <= SNIPPET_CHARS else raw[: SNIPPET_CHARS - 1] + "…"


@functools.lru_cache(maxsize=USER_TEXTS)
def user_features(text: str) -> Features:
    lex = lexicon()
    prose_text = strip_code(truncate(text))
    prose = Text.of(prose_text)
    full = prose if prose_text == text else Text.of(text)
    tokens = prose.tokens
    content = frozenset(tokens).difference(lex.stopwords)
    return Features(
        prose=prose,
        full=full,
        hits=lex.book.match_all(prose, content=content),
        caps_ratio=shouting(prose.raw, lex.stopwords),
        punctuation=_punctuation(prose.raw),
        positive_start=bool(tokens)
        and tokens[0] in lex.positive_firsts
        and any(tokens[: len(p)] == p for p in lex.positive_prefixes),
        content=content,
        snippet=_snippet(prose if prose.raw else full),
    )


@functools.lru_cache(maxsize=ASSISTANT_TEXTS)
def assistant_features(text: str) -> Features:
    full = Text.of(text)
    return Features(full, full, _NO_HITS, None, "", False, frozenset(), _snippet(full))


class Utterance:
    """A message at its place in the conversation: its message index plus the text's cached
    features (not the row: a cached fold state must not keep a long message's whole text)."""

    __slots__ = ("features", "index")

    def __init__(self, row: Row, features: Features) -> None:
        self.index = row.message_index
        self.features = features

    @classmethod
    def user(cls, row: Row) -> Utterance:
        return cls(row, user_features(truncate(row.text)))

    @classmethod
    def assistant(cls, row: Row) -> Utterance:
        return cls(row, assistant_features(truncate(row.text)))

    @property
    def prose(self) -> Text:
        return self.features.prose

    @property
    def full(self) -> Text:
        return self.features.full

    @property
    def hits(self) -> Mapping[str, Match]:
        return self.features.hits

    def snippet(self) -> str:
        return self.features.snippet
