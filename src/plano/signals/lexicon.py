"""The phrase and pattern lists (data files of ours under `signals/data/`), compiled once."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Final

from plano.signals.matcher import CONDITIONALS, NEGATIONS, PhraseBook


def _sections(name: str) -> dict[str, list[str]]:
    text = resources.files("plano.signals").joinpath("data", name).read_text(encoding="utf-8")
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
        elif current is not None:
            current.append(line)
    return sections


PHRASE_LISTS: Final = (
    "correction",
    "rephrase",
    "clarification",
    "escalation",
    "quit",
    "profanity",
    "complaint",
    "gratitude",
    "confirmation",
    "success",
)
_SATISFACTION_GUARD: Final = NEGATIONS | CONDITIONALS
# Exact hits right after one of these words don't count for the list ("if it doesn't work").
GUARDS: Final[dict[str, frozenset[str]]] = {
    "quit": CONDITIONALS,
    "complaint": CONDITIONALS,
    "gratitude": _SATISFACTION_GUARD,
    "confirmation": _SATISFACTION_GUARD,
    "success": _SATISFACTION_GUARD,
}


@dataclass(frozen=True, slots=True)
class Lexicon:
    book: PhraseBook
    positive_prefixes: tuple[tuple[str, ...], ...]
    positive_firsts: frozenset[str]  # their first words
    confirmation_words: frozenset[str]
    stopwords: frozenset[str]


@functools.cache
def lexicon() -> Lexicon:
    s = _sections("phrases.txt")
    stop = frozenset(s["stopword"])
    prefixes = tuple(tuple(p.lower().replace("'", "").split()) for p in s["positive_prefix"])
    return Lexicon(
        book=PhraseBook({name: s[name] for name in PHRASE_LISTS}, stopwords=stop, guards=GUARDS),
        positive_prefixes=prefixes,
        positive_firsts=frozenset(p[0] for p in prefixes if p),
        confirmation_words=frozenset(s["confirmation_word"]),
        stopwords=stop,
    )


@functools.cache
def observation_patterns() -> dict[str, tuple[tuple[str, re.Pattern[str]], ...]]:
    """Per layer ("execution" / "environment"): (leaf type, one compiled alternation) in order."""
    out: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
    for leaf, patterns in _sections("observations.txt").items():
        compiled = re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)
        out.setdefault(leaf.split(".", 1)[0], []).append((leaf, compiled))
    return {layer: tuple(items) for layer, items in out.items()}
