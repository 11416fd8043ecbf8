"""The signals wiring: sampling by request id, the kept conversation in each client shape, and the
worker that analyses ended requests in batches on the event loop before completing their
telemetry (bounded queue, skips counted, nothing lost at shutdown)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client.parser import text_string_to_metric_families

from plano import ir
from plano.listeners.signals_costs import NoteCache
from plano.listeners.signals_stage import (
    Budget,
    Sampler,
    SignalsWorker,
    build_signals,
    chat_messages,
    note_of,
)
from plano.observability.metrics import PrometheusMetrics
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from plano.signals import SignalReport, analyse

ESCALATION = [
    {"role": "user", "content": "Where is my order?"},
    {"role": "assistant", "content": "Let me check."},
    {"role": "user", "content": "This is useless, let me talk to a human."},
]


class Seen:
    """A record sink keeping what it was handed, in order."""

    def __init__(self) -> None:
        self.records: list[RequestRecord] = []
        self.done: asyncio.Future[None] | None = None
        self.want = 0

    def write(self, record: RequestRecord) -> None:
        self.records.append(record)
        if self.done is not None and len(self.records) >= self.want and not self.done.done():
            self.done.set_result(None)


def ended(status: int = 200, conversation: Any = ("openai", ESCALATION, None)) -> RequestRecord:
    r = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    r.handler = "llm_chat"
    r.status = status
    r.conversation = conversation
    return r


def rig(**kw: Any) -> tuple[Telemetry, Seen, PrometheusMetrics, SignalsWorker]:
    seen = Seen()
    metrics = PrometheusMetrics()
    telemetry = Telemetry(metrics=metrics, records=[seen])
    worker = SignalsWorker(telemetry, **kw)
    telemetry.defer_with(worker)
    return telemetry, seen, metrics, worker


def samples(metrics: PrometheusMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    metrics.flush()
    text = metrics.render()[0].decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
    }


def test_sampler_takes_all_none_or_a_stable_share() -> None:
    ids = [f"req-{i}" for i in range(4000)]
    assert all(Sampler(1.0)(i) for i in ids)
    assert not any(Sampler(0.0)(i) for i in ids)
    half = Sampler(0.5)
    taken = [i for i in ids if half(i)]
    assert 0.45 < len(taken) / len(ids) < 0.55
    assert taken == [i for i in ids if half(i)]  # the same ids every time
    assert not half(None)


@given(st.text(min_size=1), st.floats(0, 1), st.floats(0, 1))
def test_a_request_sampled_at_a_rate_is_sampled_at_any_higher_rate(
    rid: str, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    if Sampler(low)(rid):
        assert Sampler(high)(rid)


@pytest.mark.parametrize("thread", [False, True], ids=["on-the-loop", "in-a-thread"])
def test_requests_are_completed_after_their_batch_is_analysed(thread: bool) -> None:
    _, seen, metrics, worker = rig(thread=thread)

    async def serve() -> None:
        seen.done = asyncio.get_running_loop().create_future()
        seen.want = 40
        telemetry = worker._telemetry
        records = [ended() for _ in range(40)]
        for r in records:
            telemetry.finish(r)
        assert seen.records == []  # finishing never runs the analysis inline
        assert worker.pending == 40
        await asyncio.wait_for(seen.done, 10)

    asyncio.run(serve())
    assert len(seen.records) == 40 and worker.pending == 0
    for r in seen.records:
        assert r.signals is not None and r.signals.flagged
        assert "interaction.disengagement.escalation" in r.signals.types()
        assert r.conversation is None  # the body's reference is dropped
    s = samples(metrics)
    where = {"listener": "llm", "model": "", "route": "", "agent": ""}
    key = ("plano_signals_conversations_total", frozenset({"quality": "severe", **where}.items()))
    assert s[key] == 40


def test_failed_and_unanswered_requests_are_completed_at_once_unanalysed() -> None:
    telemetry, seen, _, worker = rig()
    for status in (0, 400, 502):
        telemetry.finish(ended(status))
    assert [r.status for r in seen.records] == [0, 400, 502]
    assert all(r.signals is None and r.conversation is None for r in seen.records)
    assert worker.pending == 0


def test_a_full_queue_completes_new_requests_unanalysed_and_counts_them() -> None:
    telemetry, seen, metrics, worker = rig(max_queue=2)

    async def serve() -> None:
        for _ in range(5):
            telemetry.finish(ended())
        assert len(seen.records) == 3 and worker.pending == 2
        assert all(r.signals is None for r in seen.records)

    asyncio.run(serve())
    s = samples(metrics)
    assert s[("plano_signals_skipped_total", frozenset({("reason", "queue_full")}))] == 3


@pytest.mark.parametrize("thread", [False, True], ids=["on-the-loop", "in-a-thread"])
def test_close_flushes_what_waits_before_the_sinks_close(thread: bool) -> None:
    telemetry, seen, _, worker = rig(delay=3600.0, thread=thread)  # never runs on its own

    async def serve() -> None:
        telemetry.finish(ended())
        telemetry.finish(ended())
        assert worker.pending == 2 and seen.records == []
        telemetry.close()

    asyncio.run(serve())
    assert len(seen.records) == 2
    assert all(r.signals is not None for r in seen.records)


def test_an_analyser_failure_is_counted_and_the_request_still_completed() -> None:
    def broken(messages: list[Any]) -> SignalReport:
        raise RuntimeError("boom")

    telemetry, seen, metrics, _ = rig(analyser=broken)
    telemetry.finish(ended())  # no event loop: analysed at once
    (record,) = seen.records
    assert record.signals is None
    s = samples(metrics)
    assert s[("plano_signals_skipped_total", frozenset({("reason", "error")}))] == 1


def test_the_time_budget_refills_at_its_share_and_is_spent_by_analyses() -> None:
    budget = Budget(0.5, burst=1.0)
    assert budget.allows()
    budget.spend(3.0)  # far beyond the burst: refills at 0.5 s per second
    assert not budget.allows()


def test_the_budget_refills_with_time_even_when_the_worker_is_idle() -> None:
    now = [100.0]
    budget = Budget(0.02, burst=0.05, clock=lambda: now[0])
    assert budget.allows()
    budget.spend(0.05)  # the burst is spent
    assert not budget.allows()
    now[0] += 1.0  # a quiet second: 20 ms of analysis come back, whatever the CPU used
    assert budget.allows()
    budget.spend(0.02)
    assert not budget.allows()
    now[0] += 100.0  # never more than the burst
    assert budget.allows()
    budget.spend(0.05)
    assert not budget.allows()


def test_past_the_time_budget_requests_are_completed_unanalysed_and_counted() -> None:
    telemetry, seen, metrics, _ = rig(budget=0.05, burst=0.0)
    telemetry.finish(ended())  # no event loop: handled at once
    (record,) = seen.records
    assert record.signals is None and record.conversation is None
    s = samples(metrics)
    assert s[("plano_signals_skipped_total", frozenset({("reason", "budget")}))] == 1
    unlimited = rig(budget=1.0, burst=0.0)
    unlimited[0].finish(ended())
    assert unlimited[1].records[0].signals is not None


def test_without_a_deferral_a_kept_conversation_is_dropped_and_completed() -> None:
    seen = Seen()
    telemetry = Telemetry(records=[seen])
    telemetry.finish(ended())
    (record,) = seen.records
    assert record.conversation is None and record.signals is None


def test_disabled_or_zero_rate_builds_nothing() -> None:
    telemetry = Telemetry()
    assert build_signals(True, 1.0, telemetry) is None
    assert build_signals(False, 0.0, telemetry) is None
    assert build_signals(False, 0.25, telemetry) is not None


def test_every_client_shape_becomes_chat_messages() -> None:
    anthropic = [
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
        {"role": "assistant", "content": "Hello"},
    ]
    got = chat_messages(("anthropic", anthropic, "Be nice."))
    assert [m["role"] for m in got if m["role"] != "system"] == ["user", "assistant"]
    assert chat_messages(("responses", "Hello there", None)) == [
        {"role": "user", "content": "Hello there"}
    ]
    restored = [
        ir.Message("user", [ir.Text("What is your name?")]),
        ir.Message("assistant", [ir.Text("Mock.")]),
    ]
    assert chat_messages(("ir", restored, None)) == [
        {"role": "user", "content": "What is your name?"},
        {"role": "assistant", "content": "Mock."},
    ]
    assert chat_messages(("openai", "not a list", None)) == []
    assert chat_messages(("anthropic", None, None)) == []


def test_the_note_carries_the_report() -> None:
    report = analyse(ESCALATION)
    note = note_of(report)
    assert note.quality == report.quality and note.flagged == report.flagged
    assert note.turn_count == report.turn_count
    attrs = note.span_attributes()
    assert attrs["signals.quality"] == report.quality
    assert attrs["signals.interaction.disengagement.count"] >= 1
    names = [name for name, _ in note.span_events()]
    assert "signal.interaction.disengagement.escalation" in names
    field = note.log_field()
    assert field["counts"]["interaction.disengagement"] >= 1
    assert "snippet" not in str(field)  # the log never quotes the user


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
    max_leaves=30,
)
MESSAGE = st.fixed_dictionaries(
    {"role": st.sampled_from(["user", "assistant", "tool", "system", "x"]), "content": JSON},
    optional={"tool_calls": JSON, "tool_call_id": JSON},
)


@settings(max_examples=150, deadline=None)
@given(
    st.sampled_from(["openai", "anthropic", "responses"]),
    st.one_of(JSON, st.lists(MESSAGE | JSON, max_size=8)),
    JSON,
)
def test_any_client_body_is_analysed_or_skipped_never_raised(
    shape: str, first: Any, second: Any
) -> None:
    seen = Seen()
    metrics = PrometheusMetrics()
    worker = SignalsWorker(Telemetry(metrics=metrics, records=[seen]))
    record = ended(conversation=(shape, first, second))
    worker.analyse(record)
    assert record.conversation is None
    assert record.signals is None or record.signals.quality in (
        "excellent", "good", "neutral", "poor", "severe",
    )  # fmt: skip


def test_in_a_thread_a_batch_in_flight_is_landed_by_close() -> None:
    telemetry, seen, _, worker = rig(thread=True)

    async def serve() -> None:
        for _ in range(3):
            telemetry.finish(ended())
        await asyncio.sleep(0)  # yield once: the run queued first hands the batch to the thread
        assert worker.pending == 0  # all three are in flight
        telemetry.close()  # waits for the batch in flight, then completes everything
        assert len(seen.records) == 3

    asyncio.run(serve())
    assert all(r.signals is not None for r in seen.records)


@pytest.mark.parametrize("thread", [False, True], ids=["on-the-loop", "in-a-thread"])
def test_a_conversation_analysed_before_is_not_analysed_again(thread: bool) -> None:
    calls: list[int] = []

    def counting(messages: list[Any]) -> SignalReport:
        calls.append(len(messages))
        return analyse(messages)

    _, seen, _, worker = rig(thread=thread, analyser=counting)
    other = [*ESCALATION, {"role": "assistant", "content": "Connecting you."}]

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        seen.done, seen.want = loop.create_future(), 2
        telemetry = worker._telemetry
        telemetry.finish(ended())
        telemetry.finish(ended(conversation=("openai", other, None)))
        await asyncio.wait_for(seen.done, 10)  # the first two are analysed (notes kept)
        seen.done, seen.want = loop.create_future(), 4
        telemetry.finish(ended())  # the same messages again, in another request body
        telemetry.finish(ended(conversation=("openai", [dict(m) for m in ESCALATION], None)))
        await asyncio.wait_for(seen.done, 10)

    asyncio.run(serve())
    assert calls == [3, 4]  # each distinct conversation analysed once
    first, second, third, fourth = (r.signals for r in seen.records)
    assert first is third is fourth and second is not first
    assert first is not None and "interaction.disengagement.escalation" in first.types()


def test_the_note_cache_is_bounded_and_keys_only_plain_json() -> None:
    notes = NoteCache(size=3)
    note = note_of(analyse(ESCALATION))
    keys = [
        NoteCache.key(("openai", [{"role": "user", "content": f"q{i}"}], None)) for i in range(5)
    ]
    assert len({*keys}) == 5 and None not in keys
    for key in keys:
        assert key is not None
        notes.put(key, note)
    assert len(notes) == 3
    assert notes.get(keys[0]) is None and notes.get(keys[4]) is note  # least recent dropped
    assert NoteCache.key(("ir", [ir.Message("user", [ir.Text("hi")])], None)) is None
    assert NoteCache.key(("openai", [{"content": object()}], None)) is None
    assert NoteCache.key(("anthropic", ESCALATION, "sys")) != NoteCache.key(
        ("anthropic", ESCALATION, None)
    )


def test_the_worker_renders_notes_as_note_of_does_while_a_conversation_grows() -> None:
    """`NoteCache.note_of` remembers rendered signals by identity; every note it makes equals
    the one `note_of` renders from scratch, turn after turn and across conversations."""
    notes = NoteCache()
    slots = ("quality", "score", "turn_count", "efficiency", "flagged", "categories", "instances")
    turns = [
        {"role": "user", "content": "Book a table for two tonight"},
        {"role": "assistant", "content": "Booked for four at 8."},
        {"role": "user", "content": "No, I meant two. WHY IS THIS SO HARD??"},
        {"role": "assistant", "content": "Sorry, fixed: two at 8."},
        {"role": "user", "content": "I want to talk to a human, this is bullshit"},
        {"role": "assistant", "content": "Connecting you."},
        {"role": "user", "content": "Thanks, that worked"},
    ]
    for conversation in (turns, ESCALATION, turns[2:]):
        for n in range(1, len(conversation) + 1):
            report = analyse(conversation[:n])
            made, fresh = notes.note_of(report), note_of(report)
            assert [getattr(made, k) for k in slots] == [getattr(fresh, k) for k in slots]
