"""Stagnation: a conversation that drags on, and messages that repeat earlier ones."""

from __future__ import annotations

from itertools import islice
from typing import Final

from plano.signals.report import Signal
from plano.signals.taxonomy import DRAGGING, REPETITION
from plano.signals.text import Text, jaccard
from plano.signals.utterance import Utterance

BASELINE_TURNS: Final = 5
DECAY: Final = 0.25  # the original's code (its docs say 0.3)
DRAGGING_BELOW: Final = 0.5
REPEAT_MIN_TOKENS: Final = 5
REPEAT_LOOKBACK: Final = 2
EXACT_REPEAT: Final = 0.95
NEAR_REPEAT: Final = 0.85
MAX_REMEMBERED: Final = 8


def efficiency(user_turns: int) -> float:
    """1 up to 5 user turns, then 1 / (1 + 0.25 · (turns − 5))."""
    if user_turns <= BASELINE_TURNS:
        return 1.0
    return 1.0 / (1.0 + DECAY * (user_turns - BASELINE_TURNS))


def dragging(user_turns: int, last: Utterance | None) -> list[Signal]:
    """One signal at the last user message when efficiency drops below 0.5."""
    score = efficiency(user_turns)
    if score >= DRAGGING_BELOW or last is None:
        return []
    meta = {"user_turns": user_turns, "efficiency": round(score, 4), "baseline": BASELINE_TURNS}
    return [Signal(DRAGGING, last.index, round(1.0 - score, 4), last.snippet(), meta)]


def repetition(messages: list[Utterance], role: str) -> list[Signal]:
    """Each message of one role vs the previous two of that role (with ≥5 tokens each)."""
    out: list[Signal] = []
    previous: tuple[Utterance, ...] = ()
    for utt in messages:
        found, previous = repetition_of(utt, previous, role)
        if found is not None:
            out.append(found)
    return out


def repetition_of(
    utt: Utterance, previous: tuple[Utterance, ...], role: str
) -> tuple[Signal | None, tuple[Utterance, ...]]:
    """The repetition signal of `utt` against `previous` (the last eligible messages of its
    role, oldest first), and the new `previous`."""
    if len(utt.full.tokens) < REPEAT_MIN_TOKENS or utt.features.positive_start:
        return None, previous
    best: tuple[float, Utterance] | None = None
    for earlier in previous:
        score = _similarity(utt.full, earlier.full)
        if score >= NEAR_REPEAT and (best is None or score > best[0]):
            best = (score, earlier)
    found: Signal | None = None
    if best is not None:
        kind = "exact" if best[0] >= EXACT_REPEAT else "near_duplicate"
        meta = {
            "role": role,
            "kind": kind,
            "similar_to": best[1].index,
            "similarity": round(best[0], 4),
        }
        found = Signal(REPETITION, utt.index, round(best[0], 4), utt.snippet(), meta)
    return found, (*previous[-(REPEAT_LOOKBACK - 1) :], utt)


def _similarity(a: Text, b: Text) -> float:
    """Trigram Jaccard, remembered on `a` by the hash of `b`'s tokens (texts are cached across
    requests, and a resent history compares the same pairs again). Not by `b` itself: that
    would keep every text a cached one was compared with alive, and theirs, and so on."""
    other = hash(b.joined)
    known = a.similar.get(other)
    if known is None:
        if len(a.similar) >= MAX_REMEMBERED:  # a popular text meets many others: stay bounded
            a.similar.clear()
        known = a.similar[other] = _jaccard_bounded(a, b)
    return known


def _jaccard_bounded(a: Text, b: Text) -> float:
    """Trigram Jaccard of `a` (the new text) and `b` (an earlier one, its set usually known),
    skipped (0) when bounds rule out NEAR_REPEAT, if possible without building `a`'s set:
    J ≤ |A| / |B|, and a text of n characters has at most n − 2 distinct trigrams;
    J ≤ |A ∩ B| / |B|, and a trigram is in A exactly when it is a substring of `a.joined`
    (checked in C for a probe of B's trigrams)."""
    if a.joined == b.joined:
        return 1.0
    b_grams = b.trigrams()
    joined = a.joined
    if len(joined) - 2 < NEAR_REPEAT * len(b_grams):
        return 0.0
    # More than (1 − NEAR_REPEAT) · |B| of B's trigrams missing from A rules it out; in an
    # unrelated pair twice that many checked usually show it (else A's set is built: it is
    # cached, and set operations beat counting every trigram of B by substring search).
    allowed = (1.0 - NEAR_REPEAT) * len(b_grams)
    probe = min(2 * int(allowed) + 2, len(b_grams))
    if probe - sum(map(joined.__contains__, islice(b_grams, probe))) > allowed:
        return 0.0
    a_grams = a.trigrams()
    if len(b_grams) < NEAR_REPEAT * len(a_grams):
        return 0.0
    return jaccard(a_grams, b_grams)
