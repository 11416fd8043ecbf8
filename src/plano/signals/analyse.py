"""`analyse`: run every analyser over one conversation and score it.

The analysis is a left-to-right fold over the rows with a small state (the last user message,
the last two messages per role for repetition, the last tool called, the tool calls so far).
A chat client resends its history with every request, so the state after each analysed
conversation is kept with its report (bounded LRU: `STATES` states holding `STATE_CHARS`
characters of text at most, keyed by a hash chain over its rows) and the next request continues
from the longest cached prefix: it pays for its new messages only (the same conversation again:
for its rows and their hash). Loop signals,
dragging and the scores are computed from the state at the end.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from plano.signals.conversation import FUNCTION_CALL, GPT, HUMAN, OBSERVATION, Row, to_rows
from plano.signals.disengagement import disengagement, satisfaction
from plano.signals.lexicon import lexicon
from plano.signals.loops import loop_signals
from plano.signals.misalignment import misalignment_of
from plano.signals.observations import observation_of
from plano.signals.report import Signal, SignalReport
from plano.signals.scoring import categories, flagged, quality
from plano.signals.stagnation import dragging, efficiency, repetition_of
from plano.signals.taxonomy import LEAF_TYPES
from plano.signals.utterance import Utterance

MAX_MESSAGES: Final = 100
STATES: Final = 1024  # cached fold states (one per recently analysed conversation), at most
STATE_CHARS: Final = 500_000  # and at most this many characters of text held by them in all
LOOK_BACK: Final = 8
COMPACT_ARGS: Final = 256
SNIPPET: Final = 100  # how many rows shorter than the request a cached prefix may be
_ORDER: Final = {leaf: n for n, leaf in enumerate(LEAF_TYPES)}


@dataclass(frozen=True, slots=True)
class _State:
    rows: int
    signals: tuple[Signal, ...]  # all but loops and dragging
    user_turns: int
    last_user: tuple[int, Utterance] | None  # (row position, utterance)
    recent_user: tuple[Utterance, ...]  # repetition candidates per role
    recent_assistant: tuple[Utterance, ...]
    last_tool: str
    calls: tuple[Row, ...]


_EMPTY: Final = _State(0, (), 0, None, (), (), "", ())


class _StateCache:
    """Fold states by hash chain key, each with the report of the conversation it ends (so a
    conversation analysed again, e.g. a retried request, costs its rows and their hash only)."""

    def __init__(self, size: int, chars: int = STATE_CHARS) -> None:
        self._size = size
        self._chars = chars
        self._held = 0  # characters of the texts the cached states hold
        self._states: OrderedDict[int, tuple[_State, SignalReport | None, int]] = OrderedDict()
        self._lock = threading.Lock()

    def longest_prefix(self, keys: list[int]) -> tuple[_State, SignalReport | None]:
        """The state of the longest cached prefix (at most `LOOK_BACK` rows short), and its
        report when it is the whole conversation."""
        with self._lock:
            for n in range(len(keys) - 1, max(-1, len(keys) - 1 - LOOK_BACK), -1):
                entry = self._states.get(keys[n])
                if entry is not None and entry[0].rows == n + 1:
                    self._states.move_to_end(keys[n])
                    return entry[0], entry[1] if n == len(keys) - 1 else None
        return _EMPTY, None

    def put(self, key: int, state: _State, report: SignalReport | None) -> None:
        """Keep `state` (and the `report` of the conversation it ends, when it was made)."""
        weight = _chars_held(state)
        with self._lock:
            old = self._states.pop(key, None)
            if old is not None:
                self._held -= old[2]
                report = report if report is not None else old[1]  # same key: same rows
            self._states[key] = (state, report, weight)
            self._held += weight
            while len(self._states) > self._size or (
                self._held > self._chars and len(self._states) > 1
            ):
                self._held -= self._states.popitem(last=False)[1][2]

    def clear(self) -> None:
        with self._lock:
            self._states.clear()
            self._held = 0

    def held(self) -> tuple[int, int]:
        """(states, characters of text they hold)."""
        return len(self._states), self._held


def _chars_held(state: _State) -> int:
    """The characters of the message texts a state keeps alive (tool calls are compacted)."""
    seen: dict[int, int] = {}
    utterances = [*state.recent_user, *state.recent_assistant]
    if state.last_user is not None:
        utterances.append(state.last_user[1])
    for utt in utterances:
        for text in (utt.features.prose, utt.features.full):
            seen[id(text)] = len(text.raw)
    return sum(seen.values()) + sum(len(c.text) + len(c.tool_args) for c in state.calls)


_cache: Final = _StateCache(STATES)
clear_state_cache = _cache.clear


def _keys(rows: list[Row]) -> list[int]:
    """A hash chain: keys[n] identifies rows[: n + 1] (text, role, tool call and index)."""
    keys: list[int] = []
    key = 0
    for row in rows:
        key = hash((key, row))
        keys.append(key)
    return keys


def _step(state: _State, pos: int, row: Row) -> _State:
    """The state after one more row (at position `pos` of the analysed rows)."""
    new: list[Signal] = []
    if row.role == HUMAN:
        utt = Utterance.user(row)
        hit = misalignment_of(pos, utt, state.last_user, lexicon())
        if hit is not None:
            new.append(hit)
        found, recent = repetition_of(utt, state.recent_user, HUMAN)
        new.extend([found] if found is not None else [])
        new.extend(disengagement([utt]))
        new.extend(satisfaction([utt]))
        return _State(state.rows + 1, (*state.signals, *new), state.user_turns + 1, (pos, utt),
                      recent, state.recent_assistant, state.last_tool, state.calls)  # fmt: skip
    if row.role == GPT and row.text:
        found, recent = repetition_of(Utterance.assistant(row), state.recent_assistant, GPT)
        signals = (*state.signals, found) if found is not None else state.signals
        return _State(state.rows + 1, signals, state.user_turns, state.last_user,
                      state.recent_user, recent, state.last_tool, state.calls)  # fmt: skip
    signals, last_tool, calls = state.signals, state.last_tool, state.calls
    if row.role == FUNCTION_CALL:
        last_tool, calls = row.tool_name, (*calls, _compact(row))
    elif row.role == OBSERVATION and row.text:
        signals = (*signals, *observation_of(row, last_tool))
    return _State(state.rows + 1, signals, state.user_turns, state.last_user, state.recent_user,
                  state.recent_assistant, last_tool, calls)  # fmt: skip


def _compact(call: Row) -> Row:
    """A tool call as the loop detector needs it, small enough to keep in a cached state: the
    snippet, and long arguments replaced by a digest (equality is all that matters)."""
    args = call.tool_args
    if len(args) > COMPACT_ARGS:
        args = "blake2b:" + hashlib.blake2b(args.encode(), digest_size=16).hexdigest()
    return Row(
        call.role, call.text[:SNIPPET], call.message_index, call.tool_name[:COMPACT_ARGS], args
    )


def analyse(
    messages: Sequence[Mapping[str, Any]], *, shape: Literal["openai", "sharegpt"] = "openai"
) -> SignalReport:
    """Signals, category severities, quality and efficiency of one conversation.

    `messages` are OpenAI chat messages (system / user / assistant with tool_calls / tool), or
    ShareGPT rows (`{"from": human | gpt | function_call | observation, "value": ...}`) with
    `shape="sharegpt"`. Only the last 100 rows are analysed; `message_index` of a signal is the
    position of its message in `messages`.
    """
    rows = to_rows(messages, shape)[-MAX_MESSAGES:]
    if not rows:
        return _report(_EMPTY)
    keys = _keys(rows)
    state, report = _cache.longest_prefix(keys)
    if report is not None:
        return report
    last = len(rows) - 1
    for pos in range(state.rows, len(rows)):
        if pos == last and pos > 0:
            # Also keep the state before the last row: a sibling of this request (the same
            # history with another last message: a regenerated or edited turn) continues there.
            _cache.put(keys[pos - 1], state, None)
        state = _step(state, pos, rows[pos])
    report = _report(state)
    _cache.put(keys[-1], state, report)
    return report


def _report(state: _State) -> SignalReport:
    last_user = state.last_user[1] if state.last_user is not None else None
    found = [
        *state.signals,
        *loop_signals(list(state.calls)),
        *dragging(state.user_turns, last_user),
    ]
    found.sort(key=lambda s: (s.message_index, _ORDER[s.type]))
    results = categories(found)
    bucket, score = quality(found, results, state.user_turns)
    return SignalReport(
        signals=tuple(found),
        categories=results,
        quality=bucket,
        quality_score=score,
        turn_count=state.user_turns,
        efficiency_score=efficiency(state.user_turns),
        flagged=flagged(bucket, results),
    )
