"""Disengagement (negative stance, escalation, quit) and satisfaction of the user."""

from __future__ import annotations

import re
from typing import Final

from plano.signals.lexicon import Lexicon
from plano.signals.misalignment import phrase_signal
from plano.signals.report import Signal
from plano.signals.taxonomy import (
    CONFIRMATION,
    ESCALATION,
    GRATITUDE,
    NEGATIVE_STANCE,
    QUIT,
    SUCCESS,
)
from plano.signals.utterance import Utterance

CAPS_MIN_LETTERS: Final = 10
CAPS_MIN_RATIO: Final = 0.8
ACRONYM_MAX_LETTERS: Final = 4
_LETTER_RUN: Final = re.compile(r"[^\W\d_]+")
_PUNCT: Final = re.compile(r"\?\?|!!|[?!]{3,}")


def shouting(text: str, common_words: frozenset[str]) -> float | None:
    """The upper-case ratio when `text` is shouted, else None.

    Short all-caps words that are not common words ("AWS", "HTTP", "GCP") are acronyms and are
    left out of both counts, so a polite question full of acronyms is not shouting.
    """
    letters = upper = 0
    for word in _LETTER_RUN.findall(text):
        if len(word) <= ACRONYM_MAX_LETTERS and word.isupper() and word.lower() not in common_words:
            continue
        letters += len(word)
        upper += sum(1 for c in word if c.isupper())
    if letters >= CAPS_MIN_LETTERS and upper / letters >= CAPS_MIN_RATIO:
        return upper / letters
    return None


def disengagement(humans: list[Utterance], lex: Lexicon) -> list[Signal]:
    out: list[Signal] = []
    for utt in humans:
        raw = utt.prose.raw
        ratio = shouting(raw, lex.stopwords)
        if ratio is not None:
            meta = {"indicator": "all_caps", "upper_ratio": round(ratio, 3)}
            out.append(Signal(NEGATIVE_STANCE, utt.index, 0.8, utt.snippet(), meta))
        punct = _PUNCT.findall(raw)
        if punct and not utt.starts_with_any(lex.positive_prefixes):
            meta = {"indicator": "punctuation", "marks": "".join(punct)[:20]}
            out.append(Signal(NEGATIVE_STANCE, utt.index, 0.7, utt.snippet(), meta))
        escalation = utt.hits.get("escalation")
        if escalation is not None:
            out.append(phrase_signal(ESCALATION, utt, escalation))
        quit_ = utt.hits.get("quit")
        if quit_ is not None:
            out.append(phrase_signal(QUIT, utt, quit_))
        profanity = utt.hits.get("profanity")
        if profanity is not None:
            out.append(phrase_signal(NEGATIVE_STANCE, utt, profanity, indicator="profanity"))
        elif escalation is None:
            complaint = utt.hits.get("complaint")
            if complaint is not None:
                out.append(phrase_signal(NEGATIVE_STANCE, utt, complaint, indicator="complaint"))
    return out


def satisfaction(humans: list[Utterance]) -> list[Signal]:
    """Gratitude, confirmation and success: at most one of each per user message."""
    out: list[Signal] = []
    for utt in humans:
        for kind, name in (
            (GRATITUDE, "gratitude"),
            (CONFIRMATION, "confirmation"),
            (SUCCESS, "success"),
        ):
            match = utt.hits.get(name)
            if match is not None:
                out.append(phrase_signal(kind, utt, match))
    return out
