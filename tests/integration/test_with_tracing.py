"""`plano up --with-tracing`: the local receiver starts and every request's span reaches it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from plano.config import load_config_text
from plano.runtime.local_tracing import ENV, with_local_tracing
from tests.integration.test_processes import chat, env, free_port, plano, write_config

pytestmark = pytest.mark.integration
__all__ = ["env"]  # the fixture, imported for this module's tests

BASE = """
version: v0.4.0
listeners: [{name: llm, type: model, port: 12000}]
model_providers: [{model: openai/gpt-4o, access_key: k, default: true}]
"""


def test_up_with_tracing_sends_every_request_to_the_local_receiver(
    tmp_path: Path, upstream: Any, env: dict[str, str]
) -> None:
    port, grpc = free_port(), free_port()
    cfg = write_config(tmp_path, upstream, port)
    started = plano(
        "up", str(cfg), "--workers", "1", "--with-tracing", "--tracing-port", str(grpc), env=env
    )
    try:
        assert started.returncode == 0, started.stderr
        assert f"trace receiver started (gRPC :{grpc})" in started.stdout
        chat(port)
        deadline = time.monotonic() + 60  # the span batch is exported within seconds
        names: list[str] = []
        while not any("/v1/chat/completions" in n for n in names):
            assert time.monotonic() < deadline, f"no request span reached the receiver: {names}"
            shown = plano("trace", "any", "--json", "--no-interactive", env=env)
            if shown.returncode == 0:
                doc = json.loads(shown.stdout)
                names = [s["name"] for t in doc.get("traces", []) for s in t.get("spans", [])]
            time.sleep(0.2)  # polling interval of the receiver, not a synchronisation
    finally:
        plano("down", env=env)
        plano("trace", "down", env=env)


def test_no_tracing_section_gets_full_sampling_to_the_receiver() -> None:
    config = with_local_tracing(load_config_text(BASE, env={}), {ENV: "http://127.0.0.1:5555"})
    assert config.tracing is not None
    assert config.tracing.random_sampling == 100
    assert config.tracing.opentracing_grpc_endpoint == "http://127.0.0.1:5555"


def test_sampling_zero_is_raised_and_an_explicit_endpoint_kept() -> None:
    text = BASE + "tracing: {random_sampling: 0, opentracing_grpc_endpoint: 'http://c:4317'}\n"
    config = with_local_tracing(load_config_text(text, env={}), {ENV: "http://127.0.0.1:5555"})
    assert config.tracing is not None
    assert config.tracing.random_sampling == 100
    assert config.tracing.opentracing_grpc_endpoint == "http://c:4317"


def test_a_sampling_config_and_no_flag_are_left_alone() -> None:
    text = BASE + "tracing: {random_sampling: 10}\n"
    sampled = load_config_text(text, env={})
    assert with_local_tracing(sampled, {ENV: "http://127.0.0.1:5555"}) is sampled
    plain = load_config_text(BASE, env={})
    assert with_local_tracing(plain, {}) is plain
