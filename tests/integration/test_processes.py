"""`plano up/down/logs` as real processes: background start, workers, SIGTERM drain, zero-config."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import plano

pytestmark = pytest.mark.integration
SRC = str(Path(plano.__file__).resolve().parents[1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plano(
    *args: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plano", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    e["PLANO_HOME"] = str(tmp_path / "home")
    e["PLANO_ADMIN_PORT"] = str(free_port())  # not the fixed default: tests may run side by side
    # Subprocesses import the same tree as the tests, whatever their working directory.
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, e.get("PYTHONPATH")]))
    return e


def write_config(tmp_path: Path, upstream: Any, port: int) -> Path:
    path = tmp_path / "plano_config.yaml"
    path.write_text(f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: {port}}}
model_providers:
  - model: openai/gpt-4o
    access_key: $TEST_UPSTREAM_KEY
    base_url: {upstream.base_url}
    default: true
""")
    (tmp_path / ".env").write_text("TEST_UPSTREAM_KEY=sk-from-dotenv\n")
    return path


def chat(port: int, **kw: Any) -> Any:
    """One chat call; a streamed answer is read whole inside the client's lifetime."""
    with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0) as c:
        result = c.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}], **kw
        )
        return list(result) if kw.get("stream") else result


def test_up_logs_down_in_background(tmp_path: Path, upstream: Any, env: dict[str, str]) -> None:
    port = free_port()
    cfg = write_config(tmp_path, upstream, port)
    started = plano("up", str(cfg), "--workers", "1", env=env)
    try:
        assert started.returncode == 0, started.stderr
        assert "plano is up" in started.stdout
        assert chat(port).choices[0].message.content
        assert upstream.requests[0].headers["authorization"] == "Bearer sk-from-dotenv"
        again = plano("up", str(cfg), "--workers", "1", env=env)  # over a running one: upgrade
        assert again.returncode == 0, again.stderr
        assert "upgraded from pid" in again.stdout
        assert chat(port).choices[0].message.content
        logs = plano("logs", env=env)
        assert logs.stdout.count("plano ready") == 2
    finally:
        stopped = plano("down", env=env)
    assert stopped.returncode == 0 and "stopped" in stopped.stdout
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)


def test_bad_config_never_starts(tmp_path: Path, env: dict[str, str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: v0.4.0\nlisteners: []\nmodel_providers:\n  - model: nomodel\n")
    result = plano("up", str(bad), "--foreground", env=env)
    assert result.returncode == 1
    assert "model_providers[0].model" in result.stderr
    assert ":4" in result.stderr  # the YAML line of the bad value


def test_missing_env_var_is_refused(tmp_path: Path, upstream: Any, env: dict[str, str]) -> None:
    cfg = write_config(tmp_path, upstream, free_port())
    (tmp_path / ".env").unlink()
    result = plano("up", str(cfg), "--foreground", env=env)
    assert result.returncode == 1
    assert "TEST_UPSTREAM_KEY" in result.stderr


@pytest.fixture
def foreground(tmp_path: Path, upstream: Any, env: dict[str, str]) -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start(workers: int) -> tuple[subprocess.Popen[str], int]:
        port = free_port()
        cfg = write_config(tmp_path, upstream, port)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "plano",
                "up",
                str(cfg),
                "--foreground",
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        for line in proc.stdout:  # the ready line is our synchronisation point
            if line.startswith("plano ready"):
                return proc, port
        raise AssertionError(f"gateway exited before it was ready ({proc.wait()})")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_two_workers_share_the_port(foreground: Any) -> None:
    proc, port = foreground(2)
    for _ in range(20):
        assert chat(port).choices[0].message.content
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert len(children) >= 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=12) == 0


def test_sigterm_drains_in_flight_stream(foreground: Any, upstream: Any) -> None:
    proc, port = foreground(1)
    upstream.script({"text": "a b c d e f g h", "chunks": 8, "chunk_delay_ms": 250})
    c = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0)
    it = iter(
        c.chat.completions.create(
            model="gpt-4o", stream=True, messages=[{"role": "user", "content": "hi"}]
        )
    )
    first = next(it)
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    refused = False
    while time.monotonic() - t0 < 5 and not refused:  # wait for the listener to close
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        except OSError:
            refused = True
    rest = list(it)
    c.close()
    parts = [c.choices[0].delta.content or "" for c in [first, *rest] if c.choices]
    assert "".join(parts) == "a b c d e f g h"
    assert refused, "new connections are refused while draining"
    assert proc.wait(timeout=10) == 0


def test_zero_config_from_environment(tmp_path: Path, upstream: Any, env: dict[str, str]) -> None:
    port = free_port()
    env = {**env, "OPENAI_API_KEY": "sk-zero"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plano",
            "up",
            "--foreground",
            "--workers",
            "1",
            "--listener-port",
            str(port),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("plano ready"):
                break
        else:
            raise AssertionError("".join(lines))
        written = Path(env["PLANO_HOME"]) / "default_config.yaml"
        text = written.read_text()
        assert "openai/*" in text and "$OPENAI_API_KEY" in text
        assert "address: 127.0.0.1" in text  # loopback unless --listener-address says otherwise
        assert "sk-zero" not in text
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
            assert resp.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=12)
        if proc.stdout is not None:
            proc.stdout.close()


def test_access_log_lines_without_secrets(foreground: Any) -> None:
    proc, port = foreground(1)
    chat(port)
    chat(port, stream=True, stream_options={"include_usage": True})
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=12) == 0
    assert proc.stdout is not None
    lines = [line for line in proc.stdout.read().splitlines() if '"POST ' in line]
    assert len(lines) == 2, lines
    assert all("model=openai/gpt-4o" in line and " 200 llm " in line for line in lines)
    assert "stream=true" in lines[1] and "tokens=" in lines[1]
    assert not any("sk-from-dotenv" in line for line in lines)
