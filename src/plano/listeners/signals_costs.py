"""What bounds the signals worker's cost: the CPU budget, and the notes of conversations
analysed before (so the same conversation is not analysed twice)."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Final

import orjson

from plano.observability.signals_note import Category, Instance, SignalsNote, metadata_json
from plano.signals import CategoryResult, Signal, SignalReport

BURST: Final = 0.05  # CPU seconds of analysis the budget allows at once (then its share)
NOTES: Final = 512  # notes of recently analysed conversations kept per worker (NoteCache)
RENDERED: Final = 4096  # rendered signal instances remembered per worker (NoteCache.note_of)

# What a stage keeps on `record.conversation`: the client dialect's shape and its parts, as
# references into the decoded body (or the restored IR turns).
Kept = tuple[str, Any, Any]


class NoteCache:
    """The notes of the last `size` analysed conversations, by a hash of the kept conversation
    (its shape and the JSON of its parts: a conversation that is the same in every byte gets
    the same note). Restored IR turns have no key (they are not JSON). Thread-safe: the loop
    reads, the analysis thread writes."""

    __slots__ = ("_categories", "_instances", "_lock", "_notes", "_size")

    def __init__(self, size: int = NOTES) -> None:
        self._size = size
        self._notes: OrderedDict[int, SignalsNote] = OrderedDict()
        self._lock = threading.Lock()
        # by id: (the object rendered, its rendering); the object is kept so the id stays its
        self._instances: dict[int, tuple[Signal, Instance]] = {}
        self._categories: dict[int, tuple[tuple[CategoryResult, ...], tuple[Category, ...]]] = {}

    def note_of(self, report: SignalReport) -> SignalsNote:
        """`note_of(report)`, remembering what it rendered: the signals of a conversation's
        cached fold state are the same objects in every later report of that conversation, and
        category results are shared by every report with the same counts, so a report that
        continues an earlier one renders its new signals only. One thread at a time: the analysis
        thread, or the loop when no batch is in flight (`SignalsWorker.flush` waits for it)."""
        instances = self._instances
        rendered: list[Instance] = []
        for signal in report.signals:
            known = instances.get(id(signal))
            if known is None or known[0] is not signal:
                if len(instances) >= RENDERED:
                    instances.clear()
                known = instances[id(signal)] = (signal, instance_of(signal))
            rendered.append(known[1])
        results = report.categories
        fired = self._categories.get(id(results))
        if fired is None or fired[0] is not results:
            if len(self._categories) >= RENDERED:
                self._categories.clear()
            fired = self._categories[id(results)] = (results, categories_of(results))
        return note_from(report, fired[1], tuple(rendered))

    @staticmethod
    def key(kept: Kept | None) -> int | None:
        if kept is None or kept[0] == "ir":
            return None
        shape, first, second = kept
        try:
            dumps = orjson.dumps
            return hash((shape, dumps(first), dumps(second) if second is not None else b""))
        except TypeError:  # orjson.JSONEncodeError: not plain JSON (left to the analysis)
            return None

    def get(self, key: int) -> SignalsNote | None:
        with self._lock:
            note = self._notes.get(key)
            if note is not None:
                self._notes.move_to_end(key)
            return note

    def put(self, key: int, note: SignalsNote) -> None:
        with self._lock:
            self._notes[key] = note
            if len(self._notes) > self._size:
                self._notes.popitem(last=False)

    def __len__(self) -> int:
        return len(self._notes)


def note_from(
    report: SignalReport, categories: tuple[Category, ...], instances: tuple[Instance, ...]
) -> SignalsNote:
    """The report as plain data for the telemetry sinks, its categories and instances rendered."""
    return SignalsNote(
        quality=report.quality,
        score=round(report.quality_score, 2),
        turn_count=report.turn_count,
        efficiency=round(report.efficiency_score, 4),
        flagged=report.flagged,
        categories=categories,
        instances=instances,
    )


def instance_of(signal: Signal) -> Instance:
    """One signal as a note's instance (type, message index, confidence, snippet, metadata)."""
    return (
        signal.type,
        signal.message_index,
        round(signal.confidence, 4),
        signal.snippet,
        metadata_json(signal.metadata),
    )


def categories_of(results: tuple[CategoryResult, ...]) -> tuple[Category, ...]:
    """The categories that fired, as a note's (layer, category, count, severity)."""
    return tuple((c.layer, c.category, c.count, c.severity) for c in results if c.count > 0)


class Budget:
    """The share of one core the analysis may take: a credit of `burst` CPU seconds that refills
    by `share` of every second that passes (wall clock) and that each analysis spends (its
    thread's CPU time). With `share` 0.02 the analysis takes at most 20 ms of CPU a second: a
    saturated worker (one CPU second a second) gives it at most 2 % of its time, however slow the
    analysers or heavy the traffic, while a lightly loaded one analyses every request. (Refilling
    by the process's own CPU time instead would starve a quiet gateway: it uses little CPU, so
    its credit would barely grow.)"""

    __slots__ = ("_burst", "_clock", "_credit", "_last", "_share")

    def __init__(
        self, share: float, burst: float = BURST, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._share = share
        self._burst = burst
        self._credit = burst
        self._clock = clock
        self._last = clock()

    def allows(self) -> bool:
        now = self._clock()
        self._credit = min(self._burst, self._credit + (now - self._last) * self._share)
        self._last = now
        return self._credit > 0

    def spend(self, seconds: float) -> None:
        self._credit -= seconds
