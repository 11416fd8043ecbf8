"""Misalignment: corrections, rephrasings and requests for clarification by the user."""

from __future__ import annotations

from typing import Final

from plano.signals.lexicon import Lexicon
from plano.signals.matcher import Match
from plano.signals.report import Signal
from plano.signals.taxonomy import CLARIFICATION, CORRECTION, REPHRASE
from plano.signals.utterance import Utterance

SEMANTIC_LOOKBACK: Final = 3  # the previous user message must be at most this many rows earlier
SEMANTIC_MIN_TOKENS: Final = 3
SEMANTIC_MIN_CONTENT: Final = 4
SEMANTIC_MAX_NEW_RATIO: Final = 0.5
SEMANTIC_MIN_OVERLAP: Final = 0.75
SEMANTIC_CONFIDENCE: Final = 0.8


def phrase_signal(kind: str, utt: Utterance, match: Match, **extra: object) -> Signal:
    meta: dict[str, object] = {"phrase": match.phrase, "method": match.method, **extra}
    return Signal(kind, utt.index, round(match.score, 4), utt.snippet(), meta)


_LISTS: Final = (
    (CORRECTION, "correction"),
    (REPHRASE, "rephrase"),
    (CLARIFICATION, "clarification"),
)


def misalignment(humans: list[tuple[int, Utterance]], lex: Lexicon) -> list[Signal]:
    """`humans` holds (row position, utterance) of every user message, in order."""
    out: list[Signal] = []
    for n, (pos, utt) in enumerate(humans):
        hit = misalignment_of(pos, utt, humans[n - 1] if n else None, lex)
        if hit is not None:
            out.append(hit)
    return out


def misalignment_of(
    pos: int, utt: Utterance, previous: tuple[int, Utterance] | None, lex: Lexicon
) -> Signal | None:
    """At most one misalignment signal for the user message at row `pos`; `previous` is the
    user message before it (row position, utterance), if any."""
    for kind, name in _LISTS:
        match = utt.hits.get(name)
        if match is not None:
            return phrase_signal(kind, utt, match)
    if previous is not None and pos - previous[0] <= SEMANTIC_LOOKBACK:
        return semantic_rephrase(previous[1], utt, lex)
    return None


def semantic_rephrase(prev: Utterance, cur: Utterance, lex: Lexicon) -> Signal | None:
    """The user says nearly the same thing again in other words (no phrase needed)."""
    a, b = prev.prose.tokens, cur.prose.tokens
    if len(a) < SEMANTIC_MIN_TOKENS or len(b) < SEMANTIC_MIN_TOKENS:
        return None
    if b[0] in lex.confirmation_words or a[0] in lex.confirmation_words:
        return None
    content_a, content_b = prev.features.content, cur.features.content
    if len(content_a) < SEMANTIC_MIN_CONTENT or len(content_b) < SEMANTIC_MIN_CONTENT:
        return None
    shared = content_a & content_b
    new_ratio = len(content_b - content_a) / len(content_b)
    overlap = len(shared) / min(len(content_a), len(content_b))
    if new_ratio > SEMANTIC_MAX_NEW_RATIO or overlap < SEMANTIC_MIN_OVERLAP:
        return None
    meta = {
        "method": "semantic",
        "similar_to": prev.index,
        "overlap": round(overlap, 3),
        "new_token_ratio": round(new_ratio, 3),
    }
    return Signal(REPHRASE, cur.index, SEMANTIC_CONFIDENCE, cur.snippet(), meta)
