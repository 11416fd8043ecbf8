"""The run directory's files and the supervisor's socket table (no processes started)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from plano.config import load_config_text
from plano.listeners.admin import AdminSettings
from plano.runtime import runstate
from plano.runtime.serve import BindError
from plano.runtime.sockets import SocketTable, admin_key, listener_key
from plano.runtime.worker import WorkerSpec


def test_record_round_trip_and_clear_only_own(tmp_path: Path) -> None:
    rec = runstate.RunRecord(pid=123, config="/c.yaml", ports=[1, 2], workers=[5, 6], generation=3)
    runstate.write_record(tmp_path, rec)
    assert runstate.read_record(tmp_path) == rec
    runstate.clear_record(tmp_path, pid=999)  # names another process: kept
    assert runstate.read_record(tmp_path) == rec
    runstate.clear_record(tmp_path, pid=123)
    assert runstate.read_record(tmp_path) is None


def test_old_record_without_workers_still_reads(tmp_path: Path) -> None:
    (tmp_path / runstate.RECORD).write_text('{"pid": 7, "config": "c", "ports": [80]}')
    assert runstate.read_record(tmp_path) == runstate.RunRecord(7, "c", [80])
    (tmp_path / runstate.RECORD).write_text("{not json")
    assert runstate.read_record(tmp_path) is None


def test_status_file(tmp_path: Path) -> None:
    path = tmp_path / runstate.RELOAD_STATUS
    runstate.write_status(path, seq=2, generation=4, error="bad", pid=1)
    status = runstate.read_json(path)
    assert status is not None
    assert (status["seq"], status["generation"], status["ok"], status["error"]) == (
        2,
        4,
        False,
        "bad",
    )
    assert status["time"].endswith("Z")


def test_is_worker_looks_at_the_command_line() -> None:
    assert not runstate.is_worker(os.getpid())
    assert runstate.alive(os.getpid())


def test_worker_spec_round_trip() -> None:
    spec = WorkerSpec("/s.yaml", "/c.yaml", 1, 2, 1000, {"llm": 5}, 6, 7, 8, verbose=True)
    assert WorkerSpec.from_env(spec.to_env()) == spec
    assert spec.fds() == (5, 6, 7, 8)
    assert "plano.runtime.worker" in spec.argv()


def _config(port: int) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: {port}}}
model_providers:
  - model: openai/gpt-4o
    access_key: k
    default: true
"""


def test_socket_table_binds_every_slot_keeps_and_replaces() -> None:
    config = load_config_text(_config(0), env={})
    table = SocketTable(1)
    assert table.ensure(config, None) == [listener_key("127.0.0.1", 0)]
    assert table.ensure(config, None) == []  # already there: nothing new
    port = table.slots[0][listener_key("127.0.0.1", 0)].getsockname()[1]
    moved = load_config_text(_config(port), env={})
    # The same port as a new key: refused, since this very table holds it without sharing check.
    with pytest.raises(BindError, match=f"listener 'llm' cannot bind 127.0.0.1:{port}"):
        table.ensure(moved, None)
    table.close_all()
    assert table.keys() == set()


def test_socket_table_two_slots_share_the_port_and_export(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    admin = AdminSettings("127.0.0.1", 0)
    config = load_config_text(_config(port), env={})
    table = SocketTable(2)
    table.ensure(config, admin)
    ports = {s.getsockname()[1] for slot in table.slots for s in slot.values()}
    assert len(ports) == 2  # the listener's port on both slots, and one admin port on both
    assert table.admin_fd(1, admin) == table.slots[1][admin_key(admin)].fileno()
    assert set(table.listener_fds(0, config)) == {"llm"}
    dup = [[[k, a, p, os.dup(fd)] for k, a, p, fd in slot] for slot in table.export()]
    adopted = SocketTable.adopt(dup, 1)  # fewer slots: the second slot's sockets are closed
    assert adopted.keys() == table.keys() and len(adopted.slots) == 1
    adopted.close_all()
    table.retain({listener_key("127.0.0.1", port)})
    assert table.keys() == {listener_key("127.0.0.1", port)}
    table.close_all()
