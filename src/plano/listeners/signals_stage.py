"""Agentic signals, off the hot path: keep the request's conversation, analyse it after the answer.

`ModelConversation` / `AgentConversation` (pipeline stages, compiled to None when
`overrides.disable_signals` is true) note on the request's record a reference to its conversation
(the decoded body's messages, or for a Responses request continued from stored state the restored
IR turns; never a copy), for the sampled share of requests (`overrides.signals_sample_rate`,
decided by request id so a given request always lands the same way). When the request has ended,
`Telemetry.finish` counts its metrics at once and hands the record to the `SignalsWorker`
(`Deferral`): it queues it and, once the event loop has run the callbacks that were ready (so
the answers just sent are on their way), hands the queued conversations (`BATCH` at most) to a
thread of the loop's default executor, one batch at a time, which runs the analysers
(`plano.signals.analyse`, pure Python; `PLANO_SIGNALS_THREAD=0` runs them on the loop itself).
Back on the loop it leaves a `SignalsNote` on each record and completes its telemetry (span,
access-log line, PostHog event, signal counters). The client's answer is never held: by then
its last byte has been sent. The queue is bounded (`MAX_QUEUE`): when full, a new record is
completed at once without analysis and counted (`plano_signals_skipped_total`); so is one that
would exceed the CPU budget (`overrides.signals_cpu_budget`, the share of one core's time the
analysis may take). At shutdown `flush` analyses and completes everything still queued.

A conversation analysed before (the same messages sent again: a retried request, a benchmark)
is not analysed again: `NoteCache` keeps the notes of recent conversations by a hash of their
JSON, and such a record is completed on the loop at once, outside the budget (its cost is
serialising and hashing the messages, a few µs).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any, Final

from plano import ir
from plano.listeners.agent.call import AgentCall
from plano.listeners.model.call import ModelCall
from plano.listeners.pipeline import Outcome, SyncStage
from plano.listeners.signals_costs import (
    BURST,
    Budget,
    Kept,
    NoteCache,
    categories_of,
    instance_of,
    note_from,
)
from plano.observability.record import RequestRecord
from plano.observability.signals_note import SignalsNote
from plano.observability.telemetry import Telemetry
from plano.signals import SignalReport, analyse, from_anthropic, from_responses
from plano.translate.openai_chat import ChatUpstream
from plano.wire.api import Api

log = logging.getLogger("plano.signals")

MAX_QUEUE: Final = 1024  # records waiting for analysis, at most
BATCH: Final = 32  # records analysed in one run on the loop (a run stays ~10 ms at most)
DELAY: Final = 0.0  # seconds the first queued record waits for others (0: the next iteration)
_HASH_SPACE: Final = 1 << 32

_CHAT: Final = ChatUpstream()


class Sampler:
    """Whether a request is analysed: all of them at rate 1, none at 0, else the share of
    request ids whose CRC-32 falls under the rate (deterministic per request id)."""

    __slots__ = ("_bound", "_rate")

    def __init__(self, rate: float) -> None:
        self._rate = rate
        self._bound = int(rate * _HASH_SPACE)

    def __call__(self, request_id: str | None) -> bool:
        if self._rate >= 1.0:
            return True
        if self._bound <= 0 or not request_id:
            return False
        return zlib.crc32(request_id.encode()) < self._bound


class ModelConversation(SyncStage[ModelCall]):
    """Model listener: keep the request's conversation (chat `messages`, Messages `messages` and
    `system`, Responses `input`, or the whole restored conversation after ContinueConversation)."""

    def __init__(self, sampler: Sampler) -> None:
        self._sampler = sampler

    def __call__(self, call: ModelCall) -> Outcome:
        record = call.record
        if not self._sampler(record.request_id):
            return None
        doc, api = call.doc, call.api
        if api is Api.OPENAI_CHAT:
            record.conversation = ("openai", doc.get("messages"), None)
        elif api is Api.ANTHROPIC_MESSAGES:
            record.conversation = ("anthropic", doc.get("messages"), doc.get("system"))
        else:
            up = call.upstream
            tr = up.translation if up is not None else None
            if tr is not None and tr.request.previous_response_id is not None:
                record.conversation = ("ir", tr.request.messages, None)
            else:
                record.conversation = ("responses", doc.get("input"), None)
        return None


class AgentConversation(SyncStage[AgentCall]):
    """Agent listener: keep the conversation the agents get (chat messages; a Responses
    request's are rebuilt as chat messages, restored turns included; Messages as sent)."""

    def __init__(self, sampler: Sampler) -> None:
        self._sampler = sampler

    def __call__(self, call: AgentCall) -> Outcome:
        record = call.record
        if not self._sampler(record.request_id):
            return None
        if call.api is Api.ANTHROPIC_MESSAGES:
            record.conversation = ("anthropic", call.messages, call.doc.get("system"))
        else:
            record.conversation = ("openai", call.messages, None)
        return None


def chat_messages(kept: Kept) -> list[Any]:
    """The kept conversation as OpenAI chat messages (what `analyse` reads)."""
    shape, first, second = kept
    if shape == "openai":
        return first if isinstance(first, list) else []
    if shape == "anthropic":
        return from_anthropic(first, second) if isinstance(first, list) else []
    if shape == "responses":
        return from_responses(first)
    if shape == "ir":
        built = _CHAT.build_request(ir.Request(model="", messages=first), "")
        messages: list[Any] = built["messages"]
        return messages
    return []


def note_of(report: SignalReport) -> SignalsNote:
    """The report as plain data for the telemetry sinks."""
    return note_from(
        report, categories_of(report.categories), tuple(map(instance_of, report.signals))
    )


class SignalsWorker:
    """The `Deferral` of `Telemetry`: a bounded queue of ended requests, analysed in batches on
    the event loop, each then completed (`Telemetry.complete`). Event-loop use only.

    A batch is what ended while the loop ran one iteration (`delay` 0: the run is scheduled with
    `call_soon`, after the callbacks already ready, so the answers those requests sent are on
    their way first) or within `delay` seconds; a run analyses at most `batch` records and
    schedules the next for the rest."""

    def __init__(
        self,
        telemetry: Telemetry,
        *,
        max_queue: int = MAX_QUEUE,
        batch: int = BATCH,
        delay: float = DELAY,
        analyser: Callable[[list[Any]], SignalReport] = analyse,
        budget: float = 1.0,
        burst: float = BURST,
        thread: bool = False,
    ) -> None:
        self._telemetry = telemetry
        # In a thread: the loop hands each batch's conversations to one analysis thread and
        # completes the records when it is done (the loop then waits at most the interpreter's
        # switch interval for the GIL, instead of a whole analysis).
        self._thread = thread
        self._inflight: _Batch | None = None
        self._budget = Budget(budget, burst) if budget < 1.0 else None  # 1: no limit
        self._max_queue = max_queue
        self._batch = batch
        self._delay = delay
        self._analyse = analyser
        self.notes = NoteCache()
        self._queue: deque[RequestRecord] = deque()
        self._timer: asyncio.Handle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop `_timer` runs on
        self._skipped: Callable[[str], None] | None = getattr(
            telemetry.metrics, "signals_skipped", None
        )

    def take(self, record: RequestRecord) -> bool:
        """Queue an ended request for analysis (True), or leave it to be completed at once:
        no answer was given (status 0 or an error), or the queue is full (counted)."""
        status = record.status
        if not status or status >= 400:
            return False
        queue = self._queue
        if len(queue) >= self._max_queue:
            self._skip("queue_full")
            return False
        queue.append(record)
        self._schedule()
        return True

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (direct use): analyse at once
            self.flush()
            return
        if self._timer is not None and self._loop is loop:
            return  # a run is due on this loop
        self._loop = loop
        delay = self._delay
        self._timer = loop.call_later(delay, self._run) if delay > 0 else loop.call_soon(self._run)

    def _run(self) -> None:
        self._timer = None
        if not self._thread:
            self._drain(self._batch)
        elif self._inflight is None:
            self._dispatch()
            return  # the batch in flight schedules the next run when it lands
        else:
            return
        if self._queue:
            self._schedule()

    def _dispatch(self) -> None:
        """Thread mode: hand the next batch (within the budget) to a thread of the loop's
        default executor (so a loop that shuts down waits for it and lands it first)."""
        queue, complete, budget = self._queue, self._telemetry.complete, self._budget
        records: list[RequestRecord] = []
        keys: list[int | None] = []
        notes = self.notes
        while queue and len(records) < self._batch:
            record = queue.popleft()
            key = notes.key(record.conversation)  # type: ignore[arg-type]
            note = notes.get(key) if key is not None else None
            if note is not None:  # analysed before: complete it now, outside the budget
                record.conversation = None
                record.signals = note
                complete(record)
            elif budget is None or budget.allows():
                records.append(record)
                keys.append(key)
            else:
                record.conversation = None
                self._skip("budget")
                complete(record)
        if not records:
            return
        loop = self._loop
        assert loop is not None
        batch = self._inflight = _Batch(records, keys, notes, budget is not None)
        try:
            work = loop.run_in_executor(None, batch.run, self._analyse)
        except RuntimeError:  # the executor is shutting down: analyse here
            batch.run(self._analyse)
            self._landed(batch)
            return
        work.add_done_callback(lambda _: self._landed(batch))

    def _landed(self, batch: _Batch) -> None:
        """Thread mode, on the loop: complete the batch the thread analysed."""
        if self._inflight is not batch:  # already landed by `flush`
            return
        self._inflight = None
        complete, budget = self._telemetry.complete, self._budget
        for record, (note, failed, seconds) in zip(batch.records, batch.results, strict=True):
            record.conversation = None
            record.signals = note
            if failed:
                self._skip("error")
            if budget is not None:
                budget.spend(seconds)
            complete(record)
        if self._queue:
            self._schedule()

    def _drain(self, limit: int) -> None:
        queue, complete = self._queue, self._telemetry.complete
        budget = self._budget
        while queue and limit > 0:
            limit -= 1
            record = queue.popleft()
            try:
                if budget is None:
                    self.analyse(record)
                elif budget.allows():
                    started = time.thread_time()
                    if self.analyse(record):
                        budget.spend(time.thread_time() - started)
                else:
                    record.conversation = None
                    self._skip("budget")
            finally:
                complete(record)

    def analyse(self, record: RequestRecord) -> bool:
        """Analyse the record's kept conversation into `record.signals` (and drop the
        reference); a conversation the analysers cannot read is skipped and counted. False
        when the note was known already (nothing was analysed)."""
        kept = record.conversation
        record.conversation = None
        if kept is None:
            return False
        notes = self.notes
        key = notes.key(kept)  # type: ignore[arg-type]
        if key is not None:
            note = notes.get(key)
            if note is not None:
                record.signals = note
                return False
        try:
            messages = chat_messages(kept)  # type: ignore[arg-type]
            if not messages:
                return True
            record.signals = note = notes.note_of(self._analyse(messages))
            if key is not None:
                notes.put(key, note)
        except Exception:
            log.exception("signals analysis failed for request %s", record.request_id)
            self._skip("error")
        return True

    def _skip(self, reason: str) -> None:
        if self._skipped is not None:
            self._skipped(reason)

    def flush(self) -> None:
        """Analyse and complete everything queued now (shutdown, drain)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch = self._inflight
        if batch is not None:
            batch.done.wait()  # the batch in flight (bounded: one batch's analysis)
            self._landed(batch)
        self._drain(len(self._queue))

    @property
    def pending(self) -> int:
        return len(self._queue)


# What the analysis thread returns per conversation: the note (None: nothing to analyse or
# failed), whether it failed, and the CPU seconds it took.
Outcome3 = tuple[SignalsNote | None, bool, float]


def _analyse_all(
    analyser: Callable[[list[Any]], SignalReport],
    kept: list[Any],
    keys: list[int | None],
    notes: NoteCache,
    timed: bool = True,
) -> list[Outcome3]:
    """The analysis thread's work for one batch: touches no record and no sink (only the
    worker's note cache). `timed`: measure each analysis's CPU time (for the budget; else 0)."""
    out: list[Outcome3] = []
    clock = time.thread_time if timed else _no_clock
    for one, key in zip(kept, keys, strict=True):
        started = clock()
        note: SignalsNote | None = None
        failed = False
        try:
            messages = chat_messages(one) if one is not None else []
            if messages:
                note = notes.note_of(analyser(messages))
                if key is not None:
                    notes.put(key, note)
        except Exception:
            log.exception("signals analysis failed")
            failed = True
        out.append((note, failed, clock() - started))
    return out


def _no_clock() -> float:
    return 0.0


class _Batch:
    """Conversations handed to the analysis thread, and what it found (`results`, one per
    record, set before `done`)."""

    __slots__ = ("done", "kept", "keys", "notes", "records", "results", "timed")

    def __init__(
        self,
        records: list[RequestRecord],
        keys: list[int | None],
        notes: NoteCache,
        timed: bool = True,
    ) -> None:
        self.timed = timed  # the budget needs each analysis's CPU time
        self.records = records
        self.kept = [r.conversation for r in records]
        self.keys = keys
        self.notes = notes
        self.results: list[Outcome3] = [(None, True, 0.0)] * len(records)
        self.done = threading.Event()

    def run(self, analyser: Callable[[list[Any]], SignalReport]) -> None:
        try:
            self.results = _analyse_all(analyser, self.kept, self.keys, self.notes, self.timed)
        finally:
            self.done.set()


class Signals:
    """What one worker's config makes of agentic signals: the sampler the stages share and
    the worker the telemetry defers to."""

    def __init__(self, telemetry: Telemetry, rate: float, budget: float = 1.0) -> None:
        # In a thread by default (measured: the same CPU per request, a lower p99 at one
        # connection); `PLANO_SIGNALS_THREAD=0` analyses on the loop (bench comparisons).
        thread = os.environ.get("PLANO_SIGNALS_THREAD", "1") != "0"
        self.worker = SignalsWorker(telemetry, budget=budget, thread=thread)
        self.sampler = Sampler(rate)
        telemetry.defer_with(self.worker)

    def model_stage(self) -> ModelConversation:
        return ModelConversation(self.sampler)

    def agent_stage(self) -> AgentConversation:
        return AgentConversation(self.sampler)


def build_signals(
    disabled: bool, rate: float, telemetry: Telemetry, budget: float = 1.0
) -> Signals | None:
    """None (no stage, no worker: zero cost) when `overrides.disable_signals` is true or
    `overrides.signals_sample_rate` is 0; `budget` is `overrides.signals_cpu_budget`."""
    if disabled or rate <= 0:
        return None
    return Signals(telemetry, rate, budget)
