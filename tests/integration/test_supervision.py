"""`plano up` supervision as real processes: replacement of a killed worker under load, queued
connections kept for the replacement, SIGHUP reloads, no orphans, `plano down` of a stale run."""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.integration.gateway_procs import (
    Load,
    Started,
    chat,
    children,
    cmdline,
    free_port,
    healthy,
    make_env,
    plano,
    running,
    started,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def gateways() -> Iterator[Started]:
    yield from started()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return make_env(tmp_path / "home")


def test_workers_are_children_running_the_worker_module(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    gw = gateways([str(cfg), "--workers", "2"], env)
    workers = children(gw.pid)
    assert len(workers) == 2
    assert all("plano.runtime.worker" in cmdline(pid) for pid in workers)
    record = json.loads((Path(env["PLANO_HOME"]) / "run" / "plano.pid").read_text())
    assert record["pid"] == gw.pid and sorted(record["workers"]) == sorted(workers)
    assert chat(port).choices[0].message.content


def test_zero_workers_is_refused(tmp_path: Path, upstream: Any, env: dict[str, str]) -> None:
    cfg = write_config(tmp_path / "c.yaml", upstream, free_port())
    result = plano("up", str(cfg), "--foreground", "--workers", "0", env=env)
    assert result.returncode == 2
    assert "--workers" in result.stderr and "0" in result.stderr


def test_killed_worker_is_replaced_under_load(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    gw = gateways([str(cfg), "--workers", "2"], env)
    health_url = f"http://127.0.0.1:{env['PLANO_ADMIN_PORT']}/healthz"
    health_failures: list[str] = []
    stop_health = threading.Event()

    def probe() -> None:
        # A probe accepted by the killed worker is lost like any of its connections; what must
        # not happen is a probe failing twice in a row (a health checker's threshold is higher).
        while not stop_health.is_set():
            try:
                healthy(health_url)
            except OSError:
                try:
                    healthy(health_url)
                except OSError as exc:
                    health_failures.append(repr(exc))

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    # The SDK's default retries: a connection reset on the killed worker is retried.
    with Load(lambda: chat(port, retries=2), threads=4) as load:
        load.wait_ok(20)
        victim = children(gw.pid)[0]
        os.kill(victim, signal.SIGKILL)
        gw.wait_line(f"worker {victim} (slot")
        gw.wait_line("serves again")
        replacement = set(children(gw.pid)) - {victim}
        assert len(replacement) == 2, replacement
        load.wait_ok(40)  # both slots serve: new connections spread over both
    stop_health.set()
    prober.join(timeout=60)
    assert load.failures == [], load.failures[:5]
    assert health_failures == []
    assert gw.proc.poll() is None


def test_queued_connection_waits_for_the_replacement(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    gw = gateways([str(cfg), "--workers", "1"], env)
    [victim] = children(gw.pid)
    os.kill(victim, signal.SIGKILL)
    gw.wait_line(f"worker {victim} (slot 0) exited")
    # No worker now: the connection queues in the slot's socket, which the supervisor keeps
    # open, and is served by the replacement. No retry allowed.
    assert chat(port, retries=0).choices[0].message.content
    gw.wait_line("serves again")


def test_replacement_runs_its_generations_config_not_the_edited_file(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    gw = gateways([str(cfg), "--workers", "1"], env)
    cfg.write_text("version: v0.4.0\nlisteners: []\nmodel_providers:\n  - model: nomodel\n")
    [victim] = children(gw.pid)
    os.kill(victim, signal.SIGKILL)
    gw.wait_line("serves again")  # edited, not reloaded: the replacement still starts
    assert chat(port).choices[0].message.content


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sighup_reloads(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started, workers: str
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    gw = gateways([str(cfg), "--workers", workers], env)
    before = set(children(gw.pid))
    os.kill(gw.pid, signal.SIGHUP)
    gw.wait_line("reload: generation 2 serves")
    assert gw.proc.poll() is None
    assert chat(port).choices[0].message.content
    wait_until(lambda: not (set(children(gw.pid)) & before), "the old generation to exit")
    assert len(children(gw.pid)) == int(workers)
    status = json.loads((Path(env["PLANO_HOME"]) / "run" / "reload.json").read_text())
    assert status["ok"] and status["generation"] == 2


def test_killed_supervisor_leaves_no_orphans(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    gw = gateways([str(cfg), "--workers", "2"], env)
    workers = children(gw.pid)
    assert len(workers) == 2
    os.kill(gw.pid, signal.SIGKILL)
    gw.proc.wait()
    wait_until(lambda: not any(running(p) for p in workers), "the workers to exit")
    # The port is free again: a new gateway starts on it.
    gw2 = gateways([str(cfg), "--workers", "1"], env)
    assert chat(port).choices[0].message.content
    assert gw2.proc.poll() is None


def test_down_stops_workers_of_a_killed_supervisor(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    gw = gateways([str(cfg), "--workers", "2"], env)
    workers = children(gw.pid)
    # A long stream keeps its worker draining after the supervisor is gone.
    upstream.script({"text": "x " * 400, "chunks": 400, "chunk_delay_ms": 100})
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
    stream = iter(
        client.chat.completions.create(
            model="gpt-4o", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    next(stream)
    os.kill(gw.pid, signal.SIGKILL)
    gw.proc.wait()
    assert any(running(p) for p in workers)
    result = plano("down", env=env)
    assert result.returncode == 0, result.stderr
    assert "was gone" in result.stdout, result.stdout
    assert not any(running(p) for p in workers)
    with pytest.raises(openai.APIError):
        list(stream)  # its worker was stopped: the stream ends early
    client.close()
    assert "not running" in plano("down", env=env).stdout


def test_ctrl_c_to_the_process_group_drains_in_flight_stream(
    tmp_path: Path, upstream: Any, env: dict[str, str], gateways: Started
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    gw = gateways([str(cfg), "--workers", "2"], env)
    upstream.script({"text": "a b c d e f g h", "chunks": 8, "chunk_delay_ms": 250})
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
    it = iter(
        client.chat.completions.create(
            model="gpt-4o", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    first = next(it)
    # What a terminal does on Ctrl-C: SIGINT to every process of the group. The supervisor
    # also sends SIGTERM to its workers; neither turns the drain into a forced exit.
    os.killpg(gw.pid, signal.SIGINT)
    rest = list(it)
    client.close()
    parts = [c.choices[0].delta.content or "" for c in [first, *rest] if c.choices]
    assert "".join(parts) == "a b c d e f g h"
    assert gw.proc.wait(timeout=30) == 0
