"""A provider's circuit shared by the workers of `plano up --workers 2`: a down primary costs the
gateway `consecutive_failures` attempts in all, not that many per worker."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import plano
from plano.mock.testing import run_mock_in_thread
from plano.upstream.health import SHARING_ENV

pytestmark = pytest.mark.integration

LIMIT = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, primary: str, fallback: str, port: int) -> Path:
    path = tmp_path / "plano_config.yaml"
    path.write_text(f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: {port}, timeout: 20s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-a
    base_url: {primary}
    default: true
    retry_policy: {{num_retries: 0}}
    fallbacks: [openai/gpt-4o-mini]
    health: {{consecutive_failures: {LIMIT}, open_for: 120s}}
  - model: openai/gpt-4o-mini
    access_key: sk-b
    base_url: {fallback}
""")
    return path


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[Any]:
    procs: list[subprocess.Popen[str]] = []

    def start(config: Path, port: int, shared: bool) -> tuple[int, int]:
        env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # the supervisor makes one for the run
        env["PLANO_HOME"] = str(tmp_path / "home")
        env["PLANO_ADMIN_PORT"] = str(admin := free_port())
        env["PYTHONPATH"] = str(Path(plano.__file__).resolve().parents[1])
        if not shared:
            env[SHARING_ENV] = "0"
        proc = subprocess.Popen(
            [sys.executable, "-m", "plano", "up", str(config), "--foreground", "--workers", "2"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        for line in proc.stdout:  # the supervisor's ready line: every worker serves
            if line.startswith("plano ready"):
                return port, admin
        raise AssertionError(f"gateway exited before it was ready ({proc.wait()})")

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def ask(port: int) -> str:
    """One chat call on a connection of its own (a new client), so either worker may serve it."""
    with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0) as c:
        raw = c.chat.completions.with_raw_response.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
        assert raw.parse().choices[0].message.content
        return str(raw.headers["x-plano-model"])


@pytest.mark.parametrize("shared", [True, False], ids=["shared", "per-worker"])
def test_a_down_primary_costs_the_gateway_consecutive_failures_attempts(
    tmp_path: Path, upstream: Any, two_workers: Any, shared: bool
) -> None:
    with run_mock_in_thread() as primary:
        primary.script({"status": 503, "times": 0})  # down until the end
        port = free_port()
        config = write_config(tmp_path, primary.base_url, upstream.base_url, port)
        port, admin = two_workers(config, port, shared)
        served = [ask(port) for _ in range(20)]
        down_hits = len(primary.requests)
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
    assert served == ["openai/gpt-4o-mini"] * 20  # the fallback answered every request
    assert len(upstream.requests) == 20
    if shared:
        assert down_hits == LIMIT
    else:
        # each worker counts on its own: both served some of the 20 requests (new connections
        # spread over the SO_REUSEPORT sockets), so the primary saw more than the limit
        assert LIMIT < down_hits <= 2 * LIMIT
    assert 'plano_upstream_circuit_state{provider="openai/gpt-4o"} 1.0' in metrics
    changes = 'plano_upstream_circuit_changes_total{provider="openai/gpt-4o",state="open"}'
    assert changes in metrics
