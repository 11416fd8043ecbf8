"""The processes under test: the fake upstream, the baseline proxy, Plano, LiteLLM if present."""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import procs
from procs import Service

BENCH_DIR: Final = Path(__file__).resolve().parent
PROXY_CORE: Final = 0  # the proxy under test
LOAD_CORE: Final = 1  # the fake upstream and wrk
UPSTREAM_KEY: Final = "bench-key"

GATEWAY_CONFIG: Final = """\
version: v0.4.0
listeners:
  - name: llm
    type: model
    address: 127.0.0.1
    port: {port}
model_providers:
  - model: openai/gpt-4o
    base_url: http://127.0.0.1:{upstream}
    access_key: {key}
    default: true
"""

# `PLANO_BENCH_RESILIENCE=1`: the same upstream with retries and a fallback configured, to measure
# what the attempt loop costs on the happy path (no fault is injected).
RESILIENCE_EXTRA: Final = """    retry_policy: {{num_retries: 2}}
    fallbacks: [openai/gpt-4o-mini]
  - model: openai/gpt-4o-mini
    base_url: http://127.0.0.1:{upstream}
    access_key: {key}
"""

LITELLM_CONFIG: Final = """\
model_list:
  - model_name: openai/gpt-4o
    litellm_params:
      model: openai/gpt-4o
      api_base: http://127.0.0.1:{upstream}/v1
      api_key: {key}
"""


@dataclass(slots=True)
class Target:
    """Something wrk can load: the upstream itself (`service` None) or a proxy in front of it."""

    name: str
    port: int
    service: Service | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/chat/completions"


def start_upstream(log_dir: Path, chunks: int, command: str | None) -> tuple[Service, int]:
    """Start the fake OpenAI upstream on the load core; `command` may override it."""
    port = procs.free_port()
    if command:
        cmd = shlex.split(command.format(port=port, chunks=chunks, python=sys.executable))
    else:
        cmd = [
            sys.executable, "-m", "plano", "mock-llm",
            "--host", "127.0.0.1", "--port", str(port), "--chunks", str(chunks),
        ]  # fmt: skip
    service = procs.start("upstream", cmd, LOAD_CORE, log_dir)
    procs.wait_port(service, port)
    return service, port


def start_baseline(log_dir: Path, upstream_port: int) -> Target:
    port = procs.free_port()
    cmd = [
        sys.executable, str(BENCH_DIR / "baseline_proxy.py"),
        "--port", str(port), "--upstream", f"http://127.0.0.1:{upstream_port}",
        "--key", UPSTREAM_KEY,
    ]  # fmt: skip
    service = procs.start("baseline", cmd, PROXY_CORE, log_dir)
    procs.wait_port(service, port)
    return Target("baseline", port, service)


ANTHROPIC_PROVIDER: Final = """\
  - model: anthropic/claude-sonnet-4-6
    base_url: http://127.0.0.1:{upstream}
    access_key: {key}
"""


def start_gateway(
    log_dir: Path, upstream_port: int, extra_providers: str = "", tail: str = ""
) -> Target:
    """Plano, one worker; `extra_providers` (YAML list items, `{upstream}` and `{key}` filled
    in) are added after the default OpenAI provider, `tail` (top-level YAML) after them."""
    port = procs.free_port()
    config = log_dir / "plano_config.yaml"
    text = GATEWAY_CONFIG
    if os.environ.get("PLANO_BENCH_RESILIENCE") == "1":
        text += RESILIENCE_EXTRA  # keys of the default provider, then its fallback provider
    text += extra_providers
    config.write_text(text.format(port=port, upstream=upstream_port, key=UPSTREAM_KEY) + tail)
    cmd = [sys.executable, "-m", "plano", "up", str(config), "--foreground", "--workers", "1"]
    service = procs.start("plano", cmd, PROXY_CORE, log_dir)
    procs.wait_line(service, "plano ready")
    return Target("plano", port, service)


def litellm_available() -> bool:
    return importlib.util.find_spec("litellm") is not None


def start_litellm(log_dir: Path, upstream_port: int) -> Target:
    """LiteLLM's proxy, one worker (untested here: litellm is not installed in this venv)."""
    port = procs.free_port()
    config = log_dir / "litellm_config.yaml"
    config.write_text(LITELLM_CONFIG.format(upstream=upstream_port, key=UPSTREAM_KEY))
    cmd = [
        sys.executable, "-m", "litellm.proxy.proxy_cli", "--config", str(config),
        "--host", "127.0.0.1", "--port", str(port), "--num_workers", "1",
    ]  # fmt: skip
    service = procs.start("litellm", cmd, PROXY_CORE, log_dir, env={"LITELLM_LOG": "ERROR"})
    procs.wait_port(service, port, timeout=120.0)
    return Target("litellm", port, service)
