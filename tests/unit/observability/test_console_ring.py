"""The console's ring: what a record becomes, how workers share rings through a directory, the
bound, the `since`/`limit` cursor, clipping, and that a reader survives any bytes in a file."""

from __future__ import annotations

import mmap
from pathlib import Path

import orjson
from hypothesis import given
from hypothesis import strategies as st

from plano.observability.console_ring import HEADER, SLOT, ConsoleRing, build_ring, ring_slots
from plano.observability.record import GuardNote, RequestRecord, RoutingNote
from plano.observability.signals_note import SignalsNote

MS = 1_000_000


def finished(
    model: str = "openai/gpt-4o", status: int = 200, *, stream: bool = False
) -> RequestRecord:
    r = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    r.requested_model, r.model, r.provider, r.route, r.status = (
        "fast",
        model,
        "openai",
        "alias",
        status,
    )
    r.stream = stream
    r.router = RoutingNote("llm")
    r.router.selected, r.router.duration_ns = model, 2 * MS
    r.upstream_sent, r.upstream_headers = r.start + 5 * MS, r.start + 30 * MS
    r.upstream_first_chunk = r.start + 31 * MS if stream else 0
    r.downstream_first_chunk = r.start + 32 * MS if stream else 0
    r.upstream_done, r.end = r.start + 40 * MS, r.start + 42 * MS
    r.attempts = 1
    r.note_usage(100, 20, None)
    return r


def test_a_record_becomes_the_consoles_entry() -> None:
    ring = ConsoleRing(slots=8, worker=0xAB)
    r = finished(stream=True)
    r.note_guard(GuardNote("jail", "flag", "head", 0.91234))
    r.signals = SignalsNote(
        quality="severe", score=0.0, turn_count=3, efficiency=0.5, flagged=True,
        categories=(("interaction", "disengagement", 1, 3),),
        instances=(("interaction.disengagement.escalation", 4, 1.0, "x" * 500, "{}"),),
    )  # fmt: skip
    ring.write(r)
    assert ring.read() == []  # kept, not yet written: no console has looked
    ring.looked_at()
    (row,) = ring.read()
    assert "trace" not in row and "signals" not in row  # a row: no detail groups
    (e,) = ring.read(detail=True)
    assert {k: v for k, v in e.items() if k in row} == row
    assert e["id"] == "ab-1"
    assert (e["requested"], e["model"], e["status"], e["pt"], e["ct"]) == (
        "fast",
        "openai/gpt-4o",
        200,
        100,
        20,
    )
    assert (e["ms"], e["ttft"]) == (42.0, 32.0)
    assert e["flags"] == ["stream", "guard:flag", "signals"]
    names = [s[0] for s in e["trace"]]
    assert names == [
        "request", "gateway", "routing (llm)", "upstream", "upstream headers",
        "upstream first chunk", "relay to client",
    ]  # fmt: skip
    assert e["trace"][3][2:] == [5.0, 35.0]  # upstream: from 5 ms, for 35 ms
    assert e["routing"]["route"] == "alias" and e["routing"]["selected"] == "openai/gpt-4o"
    assert e["guards"] == [["jail", "flag", "head", 0.912, None]]
    (instance,) = e["signals"]["instances"]
    assert len(instance[3]) == 160  # snippets are cut
    assert "body" not in e


def test_workers_share_rings_through_the_directory(tmp_path: Path) -> None:
    a = ConsoleRing(slots=8, directory=str(tmp_path), worker=1)
    b = ConsoleRing(slots=8, directory=str(tmp_path), worker=2)
    b.write(finished("openai/gpt-4o-mini"))  # before any console looked: kept by b
    a.looked_at()  # a console asks worker a: open for every worker
    assert [e["model"] for e in a.read()] == []  # b has not served since
    b.write(finished("openai/gpt-4.1"))  # b's next request writes what it kept
    a.write(finished())
    models = [e["model"] for e in a.read()]
    assert models == ["openai/gpt-4o-mini", "openai/gpt-4.1", "openai/gpt-4o"]
    assert {e["id"].split("-")[0] for e in b.read()} == {"1", "2"}
    b.close()
    assert [e["model"] for e in a.read()] == ["openai/gpt-4o"]  # an exited worker's ring goes
    b.write(finished())  # a record completed during shutdown: dropped, no error
    b.looked_at()


def test_the_ring_keeps_the_newest_and_reads_after_a_cursor() -> None:
    ring = ConsoleRing(slots=4, worker=1)
    for i in range(3):
        ring.write(finished(f"m/{i}"))
    ring.looked_at()
    first = ring.read()
    for i in range(3, 10):
        ring.write(finished(f"m/{i}"))
    ring.looked_at()
    assert [e["model"] for e in ring.read()] == ["m/6", "m/7", "m/8", "m/9"]
    later = ring.read(since=first[-1]["f"])
    assert [e["model"] for e in later] == ["m/6", "m/7", "m/8", "m/9"]
    assert [e["model"] for e in ring.read(limit=2)] == ["m/8", "m/9"]
    found = ring.find(later[0]["id"])
    assert found is not None and found["model"] == "m/6" and found["trace"][0][0] == "request"
    assert ring.find("1-1") is None  # overwritten


def test_an_entry_too_big_is_clipped_then_dropped() -> None:
    ring = ConsoleRing(slots=4, slot_size=1024, worker=1, bodies=True)
    big = finished()
    big.request_body = b"y" * 5000
    big.path = "/v1/chat/completions?" + "z" * 3000
    ring.write(big)
    ring.looked_at()
    (e,) = ring.read(detail=True)
    assert "body" not in e and len(e["path"]) == 200
    tiny = ConsoleRing(slots=4, slot_size=64, worker=1)
    tiny.write(finished())
    tiny.looked_at()
    assert tiny.read() == [] and tiny.dropped == 1


def test_bodies_are_kept_only_when_on() -> None:
    for bodies in (False, True):
        ring = ConsoleRing(slots=2, worker=1, bodies=bodies)
        r = finished()
        r.request_body = b'{"messages": []}'
        ring.write(r)
        ring.looked_at()
        assert ("body" in ring.read(detail=True)[0]) is bodies


def test_a_slot_being_written_is_skipped() -> None:
    ring = ConsoleRing(slots=2, worker=1)
    ring.write(finished())
    ring.looked_at()
    buf = ring._buf
    seq, length, flushed = SLOT.unpack_from(buf, HEADER.size)
    SLOT.pack_into(buf, HEADER.size, seq + 1, length, flushed)  # odd: mid-write
    assert ring.read() == []


@given(st.binary(max_size=600), st.integers(min_value=0, max_value=2 * 512 - 1))
def test_any_bytes_in_a_ring_file_read_without_error(junk: bytes, at: int) -> None:
    ring = ConsoleRing(slots=2, slot_size=512, worker=1)
    ring.write(finished())
    ring.write(finished(stream=True))
    ring.looked_at()
    buf: mmap.mmap = ring._buf
    start = HEADER.size + at
    end = min(len(buf), start + len(junk))
    buf[start:end] = junk[: end - start]
    entries = ring.read(detail=True)
    assert len(entries) <= 2
    assert all("id" in e and "trace" in e for e in entries)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
)


@given(st.lists(SCALARS | st.lists(SCALARS, max_size=10), min_size=40, max_size=44))
def test_an_entry_of_any_shape_is_skipped_or_read(values: list[object]) -> None:
    ring = ConsoleRing(slots=2, worker=1)
    payload = orjson.dumps(values)
    ring._append(payload, 1, values)  # what another version (or a bug) might have written
    assert len(ring.read(detail=True)) <= 1
    assert ring.find("no-such-entry") is None


def test_settings_from_the_environment(tmp_path: Path) -> None:
    assert ring_slots({}) == 1024
    assert ring_slots({"PLANO_CONSOLE_RING": "64"}) == 64
    assert build_ring({"PLANO_CONSOLE_RING": "0"}) is None
    ring = build_ring({"PLANO_CONSOLE_RING": "16"})
    assert ring is not None and ring.slots == 16
    try:
        ring_slots({"PLANO_CONSOLE_RING": "lots"})
    except ValueError as err:
        assert "PLANO_CONSOLE_RING" in str(err)
    else:
        raise AssertionError("a bad ring size was accepted")
