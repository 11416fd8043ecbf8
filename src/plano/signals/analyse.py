"""`analyse`: run every analyser over one conversation and score it.

The analysis is a left-to-right fold over the rows with a small state (the last user message,
the last two messages per role for repetition, the last tool called, the tool calls so far).
A chat client resends its history with every request, so the state after each analysed
conversation is kept with its report (bounded LRU: `STATES` states holding `STATE_CHARS`
characters of text at most) and the next request continues from the longest cached prefix: it
pays for its new messages only. A prefix is keyed by the messages themselves, not by their rows:
each message is serialised (orjson, in C) and hashed, and the key of the first k messages is the
hash of those k hashes, so finding the prefix converts no message of the history to rows (the
same conversation again costs its serialisation and hashes, ~2 µs for 20 messages). Loop
signals, dragging and the scores are computed from the state at the end.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, NamedTuple

import orjson

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
LOOK_BACK: Final = 8  # how many messages shorter than the request a cached prefix may be
COMPACT_ARGS: Final = 256
SNIPPET: Final = 100
_ORDER: Final = {leaf: n for n, leaf in enumerate(LEAF_TYPES)}
_dumps: Final = orjson.dumps


class _State(NamedTuple):  # a tuple: built once per row, cheaper than a frozen dataclass
    rows: int  # rows folded (an input message gives 0, 1 or more)
    signals: tuple[Signal, ...]  # all but loops and dragging
    user_turns: int
    last_user: tuple[int, Utterance] | None  # (row position, utterance)
    recent_user: tuple[Utterance, ...]  # repetition candidates per role
    recent_assistant: tuple[Utterance, ...]
    last_tool: str
    calls: tuple[Row, ...]
    calls_chars: int  # characters of the compacted tool calls


_EMPTY: Final = _State(0, (), 0, None, (), (), "", (), 0)


class _StateCache:
    """Fold states by prefix key, each with the report of the conversation it ends (so a
    conversation analysed again, e.g. a retried request, costs its messages' hashes only)."""

    def __init__(self, size: int, chars: int = STATE_CHARS) -> None:
        self._size = size
        self._chars = chars
        self._held = 0  # characters of the texts the cached states hold
        # key → (state, report, characters held, messages folded)
        self._states: OrderedDict[int, tuple[_State, SignalReport | None, int, int]] = OrderedDict()
        self._lock = threading.Lock()

    def longest_prefix(self, keys: _Keys) -> tuple[_State, int, SignalReport | None]:
        """The state of the longest cached prefix (at most `LOOK_BACK` messages short), how
        many messages it folded, and its report when it is the whole conversation."""
        n = keys.count
        with self._lock:
            for k in range(n, max(0, n - LOOK_BACK), -1):
                key = keys.of(k)
                entry = self._states.get(key)
                if entry is not None and entry[3] == k:
                    self._states.move_to_end(key)
                    return entry[0], k, entry[1] if k == n else None
        return _EMPTY, 0, None

    def put(self, key: int, messages: int, state: _State, report: SignalReport | None) -> None:
        """Keep `state`, the fold of the first `messages` messages (and the `report` of the
        conversation it ends, when it was made)."""
        weight = _chars_held(state)
        with self._lock:
            old = self._states.pop(key, None)
            if old is not None:
                self._held -= old[2]
                report = report if report is not None else old[1]  # same key: same messages
            self._states[key] = (state, report, weight, messages)
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
    """The characters of the message texts a state keeps alive: each utterance's folded prose
    and full text (at most 2000 characters each) and the compacted tool calls."""
    held = state.calls_chars
    last = state.last_user[1] if state.last_user is not None else None
    for utt in (*state.recent_user, *state.recent_assistant):
        if utt is not last:
            held += _text_chars(utt)
    return held + (_text_chars(last) if last is not None else 0)


def _text_chars(utt: Utterance) -> int:
    features = utt.features
    full = len(features.full.raw)
    return full if features.prose is features.full else full + len(features.prose.raw)


_cache: Final = _StateCache(STATES)
clear_state_cache = _cache.clear


class _Keys:
    """Prefix keys of one conversation: `of(k)` identifies its first k messages (and the
    shape), from one hash per message of its JSON serialisation."""

    __slots__ = ("_hashes", "_seed", "count")

    def __init__(self, hashes: list[int], shape: str) -> None:
        self._hashes = hashes
        self._seed = hash(shape)
        self.count = len(hashes)

    def of(self, k: int) -> int:
        return hash((self._seed, *self._hashes[:k]))


def _keys(messages: Sequence[Any], shape: str) -> _Keys | None:
    """The prefix keys, or None when a message is not plain JSON (no caching then)."""
    try:
        return _Keys(list(map(hash, map(_dumps, messages))), shape)
    except TypeError:  # orjson.JSONEncodeError: not a dict of JSON values
        return None


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
        signals = (*state.signals, *new) if new else state.signals
        return _State(state.rows + 1, signals, state.user_turns + 1, (pos, utt),
                      recent, state.recent_assistant, state.last_tool, state.calls,
                      state.calls_chars)  # fmt: skip
    if row.role == GPT and row.text:
        found, recent = repetition_of(Utterance.assistant(row), state.recent_assistant, GPT)
        signals = (*state.signals, found) if found is not None else state.signals
        return _State(state.rows + 1, signals, state.user_turns, state.last_user,
                      state.recent_user, recent, state.last_tool, state.calls,
                      state.calls_chars)  # fmt: skip
    signals, last_tool, calls = state.signals, state.last_tool, state.calls
    chars = state.calls_chars
    if row.role == FUNCTION_CALL:
        compact = _compact(row)
        last_tool, calls = row.tool_name, (*calls, compact)
        chars += len(compact.text) + len(compact.tool_args)
    elif row.role == OBSERVATION and row.text:
        signals = (*signals, *observation_of(row, last_tool))
    return _State(state.rows + 1, signals, state.user_turns, state.last_user,
                  state.recent_user, state.recent_assistant, last_tool, calls, chars)  # fmt: skip


def _compact(call: Row) -> Row:
    """A tool call as the loop detector needs it, small enough to keep in a cached state: the
    snippet, and long arguments replaced by a digest (equality is all that matters)."""
    args = call.tool_args
    if len(args) > COMPACT_ARGS:
        args = "blake2b:" + hashlib.blake2b(args.encode(), digest_size=16).hexdigest()
    return Row(
        call.role, call.text[:SNIPPET], call.message_index, call.tool_name[:COMPACT_ARGS], args
    )


def _fold(state: _State, rows: list[Row]) -> _State:
    """`state` continued over `rows` (the rows after those it folded)."""
    for pos, row in enumerate(rows, state.rows):
        state = _step(state, pos, row)
    return state


def analyse(
    messages: Sequence[Mapping[str, Any]], *, shape: Literal["openai", "sharegpt"] = "openai"
) -> SignalReport:
    """Signals, category severities, quality and efficiency of one conversation.

    `messages` are OpenAI chat messages (system / user / assistant with tool_calls / tool), or
    ShareGPT rows (`{"from": human | gpt | function_call | observation, "value": ...}`) with
    `shape="sharegpt"`. Only the last 100 rows are analysed; `message_index` of a signal is the
    position of its message in `messages`.
    """
    keys = _keys(messages, shape)
    if keys is None:
        return _report(_fold(_EMPTY, to_rows(messages, shape)[-MAX_MESSAGES:]))
    state, done, report = _cache.longest_prefix(keys)
    if report is not None:
        return report
    n = keys.count
    rows = to_rows(messages[done:], shape, start=done)
    if state.rows + len(rows) > MAX_MESSAGES:
        # Over the window: the rows analysed are not the prefix's rows plus these.
        state = _fold(_EMPTY, to_rows(messages, shape)[-MAX_MESSAGES:])
    else:
        if n - 1 > done:
            # The state before the last message is also kept: a sibling of this request (the
            # same history with another last message: a regenerated or edited turn) continues
            # there.
            split = len(rows)
            while split > 0 and rows[split - 1].message_index == n - 1:
                split -= 1
            state = _fold(state, rows[:split])
            _cache.put(keys.of(n - 1), n - 1, state, None)
            rows = rows[split:]
        state = _fold(state, rows)
    report = _report(state)
    _cache.put(keys.of(n), n, state, report)
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
