"""`plano demo` works offline: no key, no network, everything on 127.0.0.1."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_demo_runs_end_to_end_without_keys(tmp_path: object) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PLANO_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "plano", "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "resolved model (x-plano-model): openai/gpt-4o-mini" in out
    assert "resolved model (x-plano-model): openai/gpt-4o" in out
    assert "model='gpt-4o-mini'  stream=False" in out and "stream=True" in out
    access = [line for line in out.splitlines() if '"POST /v1/chat/completions" 200' in line]
    assert len(access) == 2
    assert "both stopped" in out


def test_demo_agents_runs_the_travel_example_offline(tmp_path: object) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PLANO_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "plano", "demo", "agents"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "answer: Paris: 18°C with light clouds" in out
    assert "WeatherAgent -> model listener -> LLM" in out
    assert "FlightAgent -> model listener -> LLM" in out
    # the MCP rewrite filter changed what the flight agent's LLM saw
    assert "Rome tomorrow (the day after today)?" in out
    # the sequence: the flight agent got the weather agent's answer as an extra history message
    assert "stream=True, 5 history messages" in out and "stream=True, 6 history messages" in out
    assert "answer: AZ319 FCO→CDG leaves 19:40." in out
    assert "trace id kept=False" not in out
    assert '"error":"ClientError","agent":"content_guard","status":400' in out
    assert len([ln for ln in out.splitlines() if "travel_booking_service" in ln]) == 4
    assert "all services stopped" in out
