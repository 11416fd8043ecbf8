"""`analyse`: run every analyser over one conversation and score it.

The analysis is a left-to-right fold over the rows with a small state (the last user message,
the last two messages per role for repetition, the last tool called, the tool calls so far, and
the signals found so far in report order with their count per category). A chat client resends
its history with every request, so the state after each analysed conversation is kept with its
report (bounded LRU: `STATES` states holding `STATE_CHARS` characters of text at most) and the
next request continues from the longest cached prefix: it pays for its new messages only, and
its report for the loop signals and dragging (the verdict is remembered by category counts). A
prefix is keyed by the messages themselves, not by their rows: the key of the first k messages
is cut out of one serialisation of the request (orjson, in C; see `_Keys`), so finding the
prefix converts no message of the history to rows (the same conversation again costs that
serialisation and a hash of its bytes, ~1 µs for 20 short messages).
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
from plano.signals.scoring import CATEGORY_OF_LEAF, verdict
from plano.signals.stagnation import dragging, efficiency, repetition_of
from plano.signals.taxonomy import CATEGORIES, ESCALATION, LEAF_TYPES, QUIT
from plano.signals.utterance import Utterance

MAX_MESSAGES: Final = 100
STATES: Final = 1024  # cached fold states (one per recently analysed conversation), at most
STATE_CHARS: Final = 500_000  # and at most this many characters of text held by them in all
LOOK_BACK: Final = 8  # how many messages shorter than the request a cached prefix may be
COMPACT_ARGS: Final = 256
SNIPPET: Final = 100
_ORDER: Final = {leaf: n for n, leaf in enumerate(LEAF_TYPES)}
_CATEGORY: Final = CATEGORY_OF_LEAF
_SEVERE: Final = (ESCALATION, QUIT)
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
    counts: tuple[int, ...]  # instances of `signals` per category (`CATEGORIES` order)
    severe: bool  # an escalation or a quit among `signals`


_EMPTY: Final = _State(0, (), 0, None, (), (), "", (), 0, (0,) * len(CATEGORIES), False)


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
    shape) from the serialisation of the whole list, of which the first k messages' JSON is a
    prefix (orjson writes a list as `[` + its items' JSON joined by `,` + `]`). So that no byte
    is hashed twice however long the messages, the key of k messages combines the hash of the
    bytes up to an anchor (the last multiple of `LOOK_BACK` messages below k, shared by the
    prefixes looked up) with the bytes after it. One serialisation of the request and one of
    each message after the anchor, all in C."""

    __slots__ = ("_anchors", "_blob", "_ends", "_known", "_messages", "_seed", "count")

    def __init__(self, blob: bytes, messages: Sequence[Any], shape: str) -> None:
        self._blob = blob
        self._messages = messages
        self._seed = hash(shape)
        self.count = len(messages)
        # _ends[j]: where the first `count - j` messages' JSON ends in `blob`
        self._ends = [len(blob) - 1]
        self._known: dict[int, int] = {}  # k → of(k), once computed
        self._anchors: dict[int, int] = {}  # a → hash of the bytes of the first a messages

    def _end(self, k: int) -> int:
        ends, drop = self._ends, self.count - k
        while len(ends) <= drop:  # the comma before the message dropped goes with it
            ends.append(ends[-1] - len(_dumps(self._messages[self.count - len(ends)])) - 1)
        return ends[drop]

    def of(self, k: int) -> int:
        key = self._known.get(k)
        if key is not None:
            return key
        anchor = max(0, (k - 1) // LOOK_BACK * LOOK_BACK)
        start = self._end(anchor)
        head = self._anchors.get(anchor)
        if head is None:
            head = self._anchors[anchor] = hash(self._blob[:start])
        key = self._known[k] = hash((self._seed, head, self._blob[start : self._end(k)]))
        return key


def _keys(messages: Sequence[Any], shape: str) -> _Keys | None:
    """The prefix keys, or None when a message is not plain JSON (no caching then)."""
    try:
        return _Keys(_dumps(messages), messages, shape)
    except TypeError:  # orjson.JSONEncodeError: not a list of JSON values
        return None


def _step(state: _State, pos: int, row: Row) -> _State:
    """The state after one more row (at position `pos` of the analysed rows)."""
    role = row.role
    if role == HUMAN:
        utt = Utterance.user(row)
        features = utt.features
        new: list[Signal] = []
        hit = misalignment_of(pos, utt, state.last_user, lexicon())
        if hit is not None:
            new.append(hit)
        found, recent = repetition_of(utt, state.recent_user, HUMAN)
        if found is not None:
            new.append(found)
        if features.hits or features.caps_ratio is not None or features.punctuation:
            new.extend(disengagement([utt]))
            new.extend(satisfaction([utt]))
        signals, counts, severe = _with(state, new)
        return _State(state.rows + 1, signals, state.user_turns + 1, (pos, utt),
                      recent, state.recent_assistant, state.last_tool, state.calls,
                      state.calls_chars, counts, severe)  # fmt: skip
    if role == GPT and row.text:
        found, recent = repetition_of(Utterance.assistant(row), state.recent_assistant, GPT)
        signals, counts, severe = _with(state, [found] if found is not None else [])
        return _State(state.rows + 1, signals, state.user_turns, state.last_user,
                      state.recent_user, recent, state.last_tool, state.calls,
                      state.calls_chars, counts, severe)  # fmt: skip
    last_tool, calls, chars = state.last_tool, state.calls, state.calls_chars
    seen: list[Signal] = []
    if role == FUNCTION_CALL:
        compact = _compact(row)
        last_tool, calls = row.tool_name, (*calls, compact)
        chars += len(compact.text) + len(compact.tool_args)
    elif role == OBSERVATION and row.text:
        seen = observation_of(row, last_tool)
    signals, counts, severe = _with(state, seen)
    return _State(state.rows + 1, signals, state.user_turns, state.last_user,
                  state.recent_user, state.recent_assistant, last_tool, calls, chars,
                  counts, severe)  # fmt: skip


def _with(state: _State, new: list[Signal]) -> tuple[tuple[Signal, ...], tuple[int, ...], bool]:
    """The state's signals, per-category counts and severe flag with those of one more row.
    Signals stay in report order (by message index, then taxonomy order; rows come in message
    order, so only the new ones need sorting)."""
    if not new:
        return state.signals, state.counts, state.severe
    if len(new) > 1:
        new.sort(key=_rank)
    counts = list(state.counts)
    severe = state.severe
    for signal in new:
        counts[_CATEGORY[signal.type]] += 1
        severe = severe or signal.type in _SEVERE
    return (*state.signals, *new), tuple(counts), severe


def _rank(signal: Signal) -> tuple[int, int]:
    return signal.message_index, _ORDER[signal.type]


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
    """The report of the conversation `state` ends: its signals plus the loop signals of its
    tool calls and dragging, in report order; the verdict from the per-category counts."""
    last_user = state.last_user[1] if state.last_user is not None else None
    found = state.signals
    counts = state.counts
    extra = [*loop_signals(list(state.calls))] if state.calls else []
    extra += dragging(state.user_turns, last_user)
    if extra:
        found, counts = _merged(found, extra, counts)
    results, bucket, score, flag = verdict(counts, state.severe, state.user_turns)
    return SignalReport(
        signals=found,
        categories=results,
        quality=bucket,
        quality_score=score,
        turn_count=state.user_turns,
        efficiency_score=efficiency(state.user_turns),
        flagged=flag,
    )


def _merged(
    found: tuple[Signal, ...], extra: list[Signal], counts: tuple[int, ...]
) -> tuple[tuple[Signal, ...], tuple[int, ...]]:
    """`found` (in report order) with the `extra` signals put in their places, and the counts."""
    tally = list(counts)
    for signal in extra:
        tally[_CATEGORY[signal.type]] += 1
    if len(extra) == 1:  # dragging alone: at the last user message, usually near the end
        signal = extra[0]
        key = _rank(signal)
        at = len(found)
        while at > 0 and _rank(found[at - 1]) > key:
            at -= 1
        return (*found[:at], signal, *found[at:]), tuple(tally)
    return tuple(sorted((*found, *extra), key=_rank)), tuple(tally)
