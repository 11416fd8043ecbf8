"""Rolling upgrade as real processes: `plano up` over a running gateway starts a new supervisor
on the same sockets, the old one retires; 0 failed requests under load; a failed one changes
nothing."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.integration.gateway_procs import (
    Load,
    chat,
    children,
    cmdline,
    free_port,
    make_env,
    plano,
    running,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    e = make_env(tmp_path / "home")
    yield e
    plano("down", env=e)


def record(env: dict[str, str]) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads((Path(env["PLANO_HOME"]) / "run" / "plano.pid").read_text())
    return raw


def test_up_over_a_running_gateway_upgrades_under_load(
    tmp_path: Path, upstream: Any, env: dict[str, str]
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port, alias_target="gpt-4o")
    first = plano("up", str(cfg), "--workers", "2", env=env)
    assert first.returncode == 0, first.stderr
    old = record(env)
    old_workers = children(old["pid"])
    assert len(old_workers) == 2
    # No retries: a refused or reset connection would count as a failure.
    with Load(lambda: chat(port, model="smart", retries=0), threads=3) as load:
        load.wait_ok(10)
        write_config(tmp_path / "c.yaml", upstream, port, alias_target="gpt-4o-mini")
        second = plano("up", str(cfg), "--workers", "2", env=env)
        assert second.returncode == 0, second.stderr
        assert f"upgraded from pid {old['pid']}" in second.stdout
        load.wait_ok(10)
    assert load.failures == [], load.failures[:5]
    new = record(env)
    assert new["pid"] != old["pid"]
    wait_until(lambda: not running(old["pid"]), "the old supervisor to exit")
    assert not any(running(p) for p in old_workers)
    workers = children(new["pid"])
    assert len(workers) == 2 and all("plano.runtime.worker" in cmdline(p) for p in workers)
    chat(port, model="smart")
    assert upstream.requests[-1].body["model"] == "gpt-4o-mini"
    down = plano("down", env=env)
    assert down.returncode == 0 and f"plano (pid {new['pid']}) stopped" in down.stdout
    assert not any(running(p) for p in [new["pid"], *workers])


def test_a_failed_upgrade_leaves_the_old_gateway_serving(
    tmp_path: Path, upstream: Any, env: dict[str, str]
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    assert plano("up", str(cfg), "--workers", "1", env=env).returncode == 0
    old = record(env)
    text = cfg.read_text()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        # The listener moved to a port someone holds: the new supervisor cannot bind it.
        cfg.write_text(text.replace(f"port: {port}", f"port: {taken}"))
        result = plano("up", str(cfg), "--workers", "1", env=env)
    assert result.returncode == 1, result.stdout
    assert "upgrade failed" in result.stderr and str(old["pid"]) in result.stderr
    assert record(env)["pid"] == old["pid"]
    assert running(old["pid"])
    assert chat(port).choices[0].message.content


def test_down_during_the_old_generations_drain_stops_both_supervisors(
    tmp_path: Path, upstream: Any, env: dict[str, str]
) -> None:
    port = free_port()
    cfg = write_config(tmp_path / "c.yaml", upstream, port)
    assert plano("up", str(cfg), "--workers", "1", env=env).returncode == 0
    old = record(env)
    upstream.script({"text": "x " * 400, "chunks": 400, "chunk_delay_ms": 100})
    client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
    stream = iter(
        client.chat.completions.create(
            model="gpt-4o", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    next(stream)
    assert plano("up", str(cfg), "--workers", "1", env=env).returncode == 0
    new = record(env)
    assert new["predecessor"] == old["pid"]
    assert running(old["pid"])  # still draining the stream (reload_drain_timeout: 300 s)
    next(stream)  # and the stream goes on
    down = plano("down", env=env)
    assert down.returncode == 0 and "stopped" in down.stdout, down.stdout
    assert not running(old["pid"]) and not running(new["pid"])
    with pytest.raises(openai.APIError):
        list(stream)  # cut by the stop (drain_timeout), not left running
    client.close()
