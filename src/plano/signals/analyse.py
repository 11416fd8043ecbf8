"""`analyse`: run every analyser over one conversation and score it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal

from plano.signals.conversation import GPT, HUMAN, to_rows
from plano.signals.disengagement import disengagement, satisfaction
from plano.signals.lexicon import lexicon
from plano.signals.loops import loop_signals
from plano.signals.misalignment import misalignment
from plano.signals.observations import observation_signals
from plano.signals.report import SignalReport
from plano.signals.scoring import categories, flagged, quality
from plano.signals.stagnation import dragging, efficiency, repetition
from plano.signals.taxonomy import LEAF_TYPES
from plano.signals.utterance import Utterance

MAX_MESSAGES: Final = 100
_ORDER: Final = {leaf: n for n, leaf in enumerate(LEAF_TYPES)}


def analyse(
    messages: Sequence[Mapping[str, Any]], *, shape: Literal["openai", "sharegpt"] = "openai"
) -> SignalReport:
    """Signals, category severities, quality and efficiency of one conversation.

    `messages` are OpenAI chat messages (system / user / assistant with tool_calls / tool), or
    ShareGPT rows (`{"from": human | gpt | function_call | observation, "value": ...}`) with
    `shape="sharegpt"`. Only the last 100 rows are analysed; `message_index` of a signal is the
    position of its message in `messages`.
    """
    lex = lexicon()
    rows = to_rows(messages, shape)[-MAX_MESSAGES:]
    humans_at = [(pos, Utterance.user(r)) for pos, r in enumerate(rows) if r.role == HUMAN]
    humans = [u for _, u in humans_at]
    gpts = [Utterance.assistant(r) for r in rows if r.role == GPT and r.text]
    found = [
        *misalignment(humans_at, lex),
        *dragging(humans),
        *repetition(humans, HUMAN),
        *repetition(gpts, GPT),
        *disengagement(humans),
        *satisfaction(humans),
        *observation_signals(rows),
        *loop_signals(rows),
    ]
    found.sort(key=lambda s: (s.message_index, _ORDER[s.type]))
    results = categories(found)
    bucket, score = quality(found, results, len(humans))
    return SignalReport(
        signals=tuple(found),
        categories=results,
        quality=bucket,
        quality_score=score,
        turn_count=len(humans),
        efficiency_score=efficiency(len(humans)),
        flagged=flagged(bucket, results),
    )
