"""Disengagement (negative stance, escalation, quit) and satisfaction of the user."""

from __future__ import annotations

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


def disengagement(humans: list[Utterance]) -> list[Signal]:
    out: list[Signal] = []
    for utt in humans:
        feats = utt.features
        if feats.caps_ratio is not None:
            meta = {"indicator": "all_caps", "upper_ratio": round(feats.caps_ratio, 3)}
            out.append(Signal(NEGATIVE_STANCE, utt.index, 0.8, utt.snippet(), meta))
        if feats.punctuation and not feats.positive_start:
            meta = {"indicator": "punctuation", "marks": feats.punctuation}
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
