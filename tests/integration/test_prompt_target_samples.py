"""Every sample config of the original with `prompt_targets` serves prompt targets: ports moved to
free loopback ones, every provider (the hidden Arch-Function one included) pointed at mock-llm,
every endpoint at a local API; a config without a prompt listener gets one. Each answers a
completed call, streamed and not, through the official OpenAI SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml

from plano.config import Config, ListenerConfig, load_config
from plano.mock.testing import MockHandle
from plano.runtime.serve import gateway_in_thread
from tests.integration.services import aiohttp_in_thread
from tests.integration.test_prompt_targets import FORECAST, Api
from tests.unit.config.test_samples import SAMPLE_FILES, _vars

pytestmark = pytest.mark.integration

WITH_TARGETS = [p for p in SAMPLE_FILES if yaml.safe_load(p.read_text()).get("prompt_targets")]

# A prompt that completes a call in each sample, and what its endpoint must receive.
CASES: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "getting_started_weather_forecast_config.yaml": (
        "What is the weather in Seattle for 3 days?",
        "POST",
        "/weather",
        {"body": {"location": "Seattle", "days": 3}},
    ),
    "plano_config_full_reference.yaml": (
        "What is the weather in Seattle for 3 days?",
        "POST",
        "/weather",
        {"body": {"location": "Seattle", "days": 3}},
    ),
    "plano_config.yaml": (
        "Please reboot the network device router-7",
        "GET",
        "/agent/action",
        {"query": {"device_id": "router-7", "confirmation": "false"}},
    ),
    "integrations_ollama_config.yaml": (
        "What is the exchange rate for EUR?",
        "GET",
        "/v1/latest",
        {"query": {"base": "USD", "symbols": "EUR"}},
    ),
}


def served_locally(config: Config, mock: MockHandle, api_host: str) -> Config:
    listeners = [
        lc.model_copy(update={"port": 0, "address": "127.0.0.1"}) for lc in config.listeners
    ]
    if not any(lc.type == "prompt" for lc in listeners):
        listeners.append(ListenerConfig(name="prompt", type="prompt", port=0, address="127.0.0.1"))
    providers = tuple(
        p.model_copy(update={"base_url": mock.base_url}) for p in config.model_providers
    )
    endpoints = {
        name: e.model_copy(update={"endpoint": api_host, "protocol": "http"})
        for name, e in config.endpoints.items()
    }
    return config.model_copy(
        update={
            "listeners": tuple(listeners),
            "model_providers": providers,
            "endpoints": endpoints,
        }
    )


@pytest.fixture
def api() -> Iterator[tuple[Api, str]]:
    served = Api()
    with aiohttp_in_thread(served.app()) as url:
        yield served, url.split("//", 1)[1]


@pytest.mark.skipif(not WITH_TARGETS, reason="reference sample configs not found")
def test_every_sample_with_prompt_targets_is_covered() -> None:
    assert {p.name for p in WITH_TARGETS} == set(CASES)


@pytest.mark.parametrize("path", WITH_TARGETS, ids=lambda p: p.name)
@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_sample_serves_a_completed_call(
    path: Path, stream: bool, upstream: MockHandle, api: tuple[Api, str]
) -> None:
    served, host = api
    prompt, method, endpoint_path, expected = CASES[path.name]
    config = load_config(path, env={v: f"dummy-{v}" for v in _vars(path)})
    with (
        gateway_in_thread(served_locally(config, upstream, host)) as gw,
        openai.OpenAI(base_url=f"{gw.url('prompt')}/v1", api_key="k", max_retries=0) as c,
    ):
        messages: Any = [{"role": "user", "content": prompt}]
        if stream:
            chunks = list(c.chat.completions.create(model="x", messages=messages, stream=True))
            text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
            assert chunks[0].model == "Arch-Function"
        else:
            reply = c.chat.completions.create(model="x", messages=messages)
            text = reply.choices[0].message.content or ""
    (call,) = served.seen
    assert (call["method"], call["path"]) == (method, endpoint_path)
    for key, value in expected.items():
        assert call[key] == value
    assert text  # the LLM's answer (or, dispatch off, the API's)
    fc = [r.body for r in upstream.requests if r.body.get("model") == "Arch-Function"]
    assert len(fc) == 1 and "<tools>" in fc[0]["messages"][0]["content"]
    if json.dumps(FORECAST) not in text:
        final = [r.body for r in upstream.requests if r.body.get("model") != "Arch-Function"]
        assert json.dumps(FORECAST) in final[-1]["messages"][-1]["content"]


def test_demo_functions_runs_offline(tmp_path: object) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env["PLANO_HOME"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "plano", "demo", "functions"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "assistant: Could you tell me the number of days for the request?" in out
    assert "weather API calls so far: 0" in out
    assert "weather API received: POST /weather {'location': 'Seattle', 'days': 3}" in out
    assert "assistant: Seattle: light rain" in out
    assert "They follow the docs." in out
    assert len([ln for ln in out.splitlines() if "prompt_listener" in ln]) == 3
