"""`plano obs` end to end: the OpenAI SDK -> gateway -> `plano mock-llm`, the gateway's spans
exported over OTLP to a real `plano obs --json` process, whose snapshot must show each call
with its model, the token counts the SDK got back, and the cost: the gateway's own (the span's
`llm.usage.total_cost_usd`) for a model priced in the gateway's config, the price table of
`obs --config` for a model the gateway has no price for."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from plano.mock.testing import MockHandle, run_mock_in_thread
from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration

WAIT_SECONDS = 60.0
PRICED = {"input": 2.5, "output": 10.0}  # gateway config: openai/gpt-4o
OBS_ONLY = {"input": 0.5, "output": 1.5}  # obs --config only: openai/gpt-4o-mini


@pytest.fixture
def mock() -> Iterator[MockHandle]:
    with run_mock_in_thread() as handle:
        yield handle


def start_obs(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env["PLANO_HOME"] = str(tmp_path / "home")
    env["NO_COLOR"] = "1"
    proc = subprocess.Popen(
        [sys.executable, "-m", "plano", "obs", "--port", "0", "--http-port", "0", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        if not sel.select(WAIT_SECONDS):
            proc.kill()
            proc.communicate()
            raise AssertionError("`plano obs` did not announce its ports")
    line = proc.stderr.readline()
    # "plano obs: OTLP gRPC 127.0.0.1:P1, OTLP HTTP 127.0.0.1:P2"
    assert line.startswith("plano obs: OTLP gRPC"), line
    return proc, int(line.split("OTLP gRPC ")[1].split(",")[0].rsplit(":", 1)[1])


def gateway_config(mock: MockHandle, grpc_port: int) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
model_providers:
  - model: openai/gpt-4o
    access_key: k
    base_url: {mock.base_url}
    default: true
    pricing: {{input_per_mtok: {PRICED["input"]}, output_per_mtok: {PRICED["output"]}}}
  - model: openai/gpt-4o-mini
    access_key: k
    base_url: {mock.base_url}
pricing:
  snapshot: false  # no price for gpt-4o-mini in the gateway (the bundled snapshot has one)
tracing:
  random_sampling: 100
  opentracing_grpc_endpoint: http://127.0.0.1:{grpc_port}
"""


def obs_config(tmp_path: Path) -> Path:
    path = tmp_path / "obs.yaml"
    path.write_text(
        "version: v0.4.0\n"
        "listeners: [{name: llm, type: model, port: 12000}]\n"
        "model_providers:\n"
        "  - model: openai/gpt-4o-mini\n"
        "    access_key: k\n"
        "    default: true\n"
        f"    pricing: {{input_per_mtok: {OBS_ONLY['input']}, "
        f"output_per_mtok: {OBS_ONLY['output']}}}\n"
    )
    return path


def cost(price: dict[str, float], usage: Any) -> float:
    return (usage.prompt_tokens * price["input"] + usage.completion_tokens * price["output"]) / 1e6


def test_obs_snapshot_shows_each_call_with_model_tokens_and_cost(
    tmp_path: Path, mock: MockHandle, gateway: GatewayFactory
) -> None:
    proc, grpc_port = start_obs(
        tmp_path,
        "--json",
        "--calls",
        "3",
        "--seconds",
        str(WAIT_SECONDS),
        "--config",
        str(obs_config(tmp_path)),
    )
    try:
        with (
            gateway(gateway_config(mock, grpc_port)) as gw,
            openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c,
        ):
            big = c.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hello there obs"}]
            )
            chunks = list(
                c.chat.completions.create(
                    model="gpt-4o",
                    messages=[{"role": "user", "content": "stream please"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
            small = c.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
            )
        out, err = proc.communicate(timeout=WAIT_SECONDS)
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    snap = json.loads(out)
    streamed = next(ch.usage for ch in chunks if ch.usage is not None)
    assert big.usage is not None and small.usage is not None

    summary = snap["summary"]
    assert summary["calls"] == 3 and summary["errors"] == 0
    assert summary["prompt_tokens"] == (
        big.usage.prompt_tokens + streamed.prompt_tokens + small.usage.prompt_tokens
    )
    models = {row["model"]: row for row in snap["by_model"]}
    assert set(models) == {"openai/gpt-4o", "openai/gpt-4o-mini"}
    big_row, small_row = models["openai/gpt-4o"], models["openai/gpt-4o-mini"]
    assert big_row["calls"] == 2
    assert big_row["completion_tokens"] == big.usage.completion_tokens + streamed.completion_tokens
    assert big_row["cost_usd"] == pytest.approx(cost(PRICED, big.usage) + cost(PRICED, streamed))
    assert small_row["calls"] == 1
    assert small_row["prompt_tokens"] == small.usage.prompt_tokens
    assert small_row["cost_usd"] == pytest.approx(cost(OBS_ONLY, small.usage))
    assert summary["cost_usd"] == pytest.approx(big_row["cost_usd"] + small_row["cost_usd"])

    recent = snap["recent"]
    assert [c["model"] for c in recent] == ["openai/gpt-4o-mini", "openai/gpt-4o", "openai/gpt-4o"]
    stream_call = recent[1]
    assert stream_call["stream"] is True
    assert stream_call["ttft_ms"] is not None
    assert stream_call["duration_ms"] >= stream_call["ttft_ms"]
    assert all(c["status"] == 200 for c in recent)
    routes = snap["by_route"]  # `plano.route.name`: "exact" for a model asked for by name
    assert [(r["route"], r["calls"], r["share"]) for r in routes] == [("exact", 3, 1.0)]


def test_obs_table_view_without_calls(tmp_path: Path) -> None:
    proc, _ = start_obs(tmp_path, "--once", "--seconds", "0")
    out, err = proc.communicate(timeout=WAIT_SECONDS)
    assert proc.returncode == 0, err
    assert "plano obs" in out and "calls 0" in out
    assert "waiting for spans" in out
    assert "\x1b[" not in out  # NO_COLOR: plain text
