"""Provider circuits shared through the mapped table: two maps of one file stand for two worker
processes (each `HealthTable` maps the file on its own, as a worker does)."""

from __future__ import annotations

import logging
import math
import os
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from plano.config.resilience import HealthConfig
from plano.upstream import health, health_table
from plano.upstream.health import (
    CLOSED,
    HALF_OPEN,
    OPEN,
    Circuit,
    SharedCircuit,
    build_circuit,
    shared_table,
)
from plano.upstream.health_table import FILE_NAME, SIZE, SLOTS, HealthTable
from tests.compiled_marks import patches


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Worker:
    """One worker's view: its own map of the file, its own circuit for provider `p`."""

    def __init__(self, path: Path, clock: Clock, **kw: object) -> None:
        self.table = HealthTable(str(path))
        self.changes: list[str] = []
        off = self.table.slot("p")
        assert off is not None
        cfg = HealthConfig(**kw)  # type: ignore[arg-type]
        self.circuit = SharedCircuit(
            "p", cfg, self.table, off, lambda _, s: self.changes.append(s), clock
        )


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Worker, Worker, Clock]]:
    clock = Clock()
    path = tmp_path / FILE_NAME
    kw = {"consecutive_failures": 3, "open_for": 10.0, "half_open_probes": 1}
    a, b = Worker(path, clock, **kw), Worker(path, clock, **kw)
    yield a, b, clock
    a.table.close()
    b.table.close()


def test_failures_are_counted_jointly_and_an_open_circuit_is_open_for_both(
    pair: tuple[Worker, Worker, Clock],
) -> None:
    a, b, _ = pair
    a.circuit.failure()
    b.circuit.failure()
    assert a.circuit.admits() and b.circuit.admits()  # two in a row: still closed
    a.circuit.failure()  # the third, counted by both together
    assert a.circuit.state == OPEN and not a.circuit.admits()
    assert b.circuit.state == OPEN and not b.circuit.admits()  # b learns it from the map
    assert a.changes == ["open"] and b.changes == ["open"]


def test_a_success_anywhere_closes_it_for_all_and_resets_the_count(
    pair: tuple[Worker, Worker, Clock],
) -> None:
    a, b, _ = pair
    a.circuit.failure()
    a.circuit.failure()
    b.circuit.success()  # the count starts again
    a.circuit.failure()
    a.circuit.failure()
    assert a.circuit.admits() and b.circuit.admits()
    b.circuit.failure()
    assert not a.circuit.admits()
    b.circuit.success()  # e.g. a request without a fallback got through
    assert b.circuit.state == CLOSED
    assert a.circuit.admits() and a.circuit.state == CLOSED
    assert a.changes == ["open", "closed"]


def test_expiry_is_half_open_with_probes_per_worker(pair: tuple[Worker, Worker, Clock]) -> None:
    a, b, clock = pair
    for _ in range(3):
        a.circuit.failure()
    clock.now += 9.9
    assert not a.circuit.admits() and not b.circuit.admits()
    clock.now += 0.1
    assert a.circuit.admits() and not a.circuit.admits()  # a's one probe
    assert b.circuit.admits() and not b.circuit.admits()  # and b's own
    assert a.circuit.state == HALF_OPEN == b.circuit.state
    a.circuit.failure()  # a's probe failed: open again, for both
    assert not b.circuit.admits() and b.circuit.state == OPEN
    clock.now += 10.0
    assert b.circuit.admits()
    b.circuit.success()  # b's probe succeeded: closed for both
    assert a.circuit.admits() and a.circuit.state == CLOSED
    assert b.changes == ["open", "half_open", "open", "half_open", "closed"]


def test_a_worker_that_never_saw_it_open_probes_after_expiry(
    pair: tuple[Worker, Worker, Clock],
) -> None:
    a, b, clock = pair
    for _ in range(3):
        a.circuit.failure()
    clock.now += 10.0
    assert b.circuit.state == HALF_OPEN  # not closed: no success since it opened
    assert b.circuit.admits() and not b.circuit.admits()
    b.circuit.failure()
    assert a.circuit.state == OPEN


def test_a_failure_after_a_success_elsewhere_counts_from_one(
    pair: tuple[Worker, Worker, Clock],
) -> None:
    a, b, _ = pair
    for _ in range(3):
        a.circuit.failure()
    b.circuit.success()
    a.circuit.failure()  # an attempt sent while it was open ends after the success
    assert a.circuit.state == CLOSED and a.circuit.admits()


def test_slots_are_per_provider_and_stable_across_maps(tmp_path: Path) -> None:
    path = str(tmp_path / FILE_NAME)
    one, two = HealthTable(path), HealthTable(path)
    try:
        offs = {one.slot(f"openai/model-{i}") for i in range(40)}
        assert len(offs) == 40 and None not in offs
        assert {two.slot(f"openai/model-{i}") for i in range(40)} == offs
    finally:
        one.close()
        two.close()


@patches(health)
def test_a_full_table_leaves_the_next_provider_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = HealthTable(str(tmp_path / FILE_NAME))
    try:
        assert all(table.slot(f"p{i}") is not None for i in range(SLOTS))
        assert table.slot("one-too-many") is None
        monkeypatch.setattr(health, "shared_table", lambda: table)
        c = build_circuit("one-too-many", HealthConfig())
        assert type(c) is Circuit
        assert isinstance(build_circuit("p7", HealthConfig()), SharedCircuit)
    finally:
        table.close()


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage", b"\xff" * SIZE, b"\x00" * (SIZE + 100)],
    ids=["empty", "short", "bad-magic", "long"],
)
def test_a_corrupt_or_short_file_is_recreated(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / FILE_NAME
    path.write_bytes(content)
    clock = Clock()
    w = Worker(path, clock, consecutive_failures=1)
    try:
        assert path.stat().st_size == SIZE
        assert w.circuit.admits()
        w.circuit.failure()
        assert not w.circuit.admits()
    finally:
        w.table.close()


@pytest.mark.parametrize("value", [math.nan, -5.0, math.inf, 1e300])
def test_a_corrupt_slot_is_read_as_closed_and_rewritten(tmp_path: Path, value: float) -> None:
    clock = Clock()
    path = tmp_path / FILE_NAME
    w = Worker(path, clock, consecutive_failures=2)
    try:
        off = w.table.slot("p")
        assert off is not None
        with path.open("r+b") as f:  # another writer scribbles over the slot
            f.seek(off + 8)
            f.write(struct.pack("<d", value))
        assert w.circuit.admits() and w.circuit.state == CLOSED
        w.circuit.failure()  # rewrites the slot: one failure, still closed
        assert w.circuit.admits()
        w.circuit.failure()
        assert w.circuit.state == OPEN
    finally:
        w.table.close()


@patches(health)
def test_the_table_comes_from_the_run_directory_and_sharing_can_be_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health.multiproc, "active_dir", lambda: None)
    assert shared_table() is None  # one in-process gateway: circuits on their own
    assert type(build_circuit("p", HealthConfig())) is Circuit
    monkeypatch.setattr(health.multiproc, "active_dir", lambda: str(tmp_path))
    table = shared_table()
    assert table is not None and table.path == str(tmp_path / FILE_NAME)
    assert shared_table() is table  # mapped once per process
    assert isinstance(build_circuit("p", HealthConfig()), SharedCircuit)
    monkeypatch.setenv(health.SHARING_ENV, "0")
    assert shared_table() is None


@patches(health)
def test_a_directory_that_cannot_hold_the_file_leaves_circuits_on_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "gone"
    monkeypatch.setattr(health.multiproc, "active_dir", lambda: str(missing))
    with caplog.at_level(logging.WARNING, logger="plano.upstream"):
        assert type(build_circuit("p", HealthConfig())) is Circuit
    assert "provider health stays per worker" in caplog.text


COUNT = """
import os, sys
from plano.upstream.health_table import HealthTable
t = HealthTable(sys.argv[1])
off = t.slot("p")
print("ready", flush=True)
sys.stdin.readline()  # the go: both processes write at once
for _ in range(int(sys.argv[2])):
    t.failed(off, 1.0, 1 << 40, 10.0)
"""


def test_processes_count_failures_exactly(tmp_path: Path) -> None:
    """Writers in two processes at once: the file lock loses no increment."""
    path = str(tmp_path / FILE_NAME)
    env = {**os.environ, "PYTHONPATH": str(Path(health_table.__file__).parents[2])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", COUNT, path, "20000"],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline() == "ready\n"
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.close()
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    for p in procs:
        assert p.stdout is not None
        p.stdout.close()
    table = HealthTable(path)
    try:
        off = table.slot("p")
        assert off is not None
        with open(path, "rb") as f:
            f.seek(off + 8)
            until, fails = struct.unpack("<dQ", f.read(16))
        assert (until, fails) == (0.0, 40000)
    finally:
        table.close()
