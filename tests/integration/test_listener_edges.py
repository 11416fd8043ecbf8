"""Rough edges a new user meets: request ids on every error answer and in the access log, the
agent listener's own time, aliases in `GET /v1/models`. Driven with the OpenAI SDK, and urllib
where the SDK cannot send the malformed request."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from plano.mock.testing import MockHandle, run_mock_in_thread
from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration

AGENT_DELAY_MS = 300


@pytest.fixture
def agent() -> Iterator[MockHandle]:
    with run_mock_in_thread(default_text="Done.") as handle:
        yield handle


def config(upstream: Any, agent_url: str = "http://127.0.0.1:9") -> str:
    return f"""
version: v0.4.0
agents:
  - id: solo_agent
    url: {agent_url}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-test
    base_url: {upstream.base_url}
    default: true
  - model: anthropic/claude-sonnet-4
    access_key: sk-ant
    base_url: {upstream.base_url}
model_aliases:
  fast: {{target: openai/gpt-4o}}
  smart: {{target: anthropic/claude-sonnet-4}}
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0}}
  - type: agent
    name: solo
    address: 127.0.0.1
    port: 0
    agents:
      - id: solo_agent
        description: Answers everything.
        default: true
"""


def request(
    url: str, method: str = "GET", body: bytes | None = None, rid: str | None = None
) -> tuple[int, dict[str, str]]:
    headers = {"content-type": "application/json"}
    if rid:
        headers["x-request-id"] = rid
    req = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as err:
        with err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}


def log_lines(out: str, marker: str) -> list[str]:
    return [line for line in out.splitlines() if marker in line]


def test_error_answers_carry_the_request_id(
    upstream: Any, gateway: GatewayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    with gateway(config(upstream)) as gw:
        llm, agents = gw.url(), gw.url("agent")
        # 400 (body not JSON), on both listeners: the client's id, in the answer and the log.
        status, headers = request(f"{llm}/v1/chat/completions", "POST", b"{oops", "rid-400")
        assert (status, headers.get("x-request-id")) == (400, "rid-400")
        status, headers = request(
            f"{agents}/v1/chat/completions", "POST", b'{"messages": 3}', "rid-agent-400"
        )
        assert (status, headers.get("x-request-id")) == (400, "rid-agent-400")
        # 404 and 405: an id of the gateway's own, or the client's.
        status, headers = request(f"{llm}/v1/nothing-here")
        assert status == 404
        made = headers.get("x-request-id")
        assert made
        status, headers = request(f"{llm}/v1/nothing-here", rid="rid-404")
        assert (status, headers.get("x-request-id")) == (404, "rid-404")
        status, headers = request(f"{llm}/v1/chat/completions", rid="rid-405")
        assert (status, headers.get("x-request-id")) == (405, "rid-405")
    out = capsys.readouterr().out
    assert "request_id=rid-400" in log_lines(out, '"POST /v1/chat/completions" 400 llm')[0]
    assert "request_id=rid-agent-400" in log_lines(out, '" 400 solo')[0]
    four = log_lines(out, '"GET /v1/nothing-here" 404')
    assert [line.rsplit("request_id=", 1)[1] for line in four] == [made, "rid-404"]


def test_agent_overhead_is_the_gateways_own_time(
    upstream: Any, gateway: GatewayFactory, agent: MockHandle, capsys: pytest.CaptureFixture[str]
) -> None:
    agent.script({"first_byte_delay_ms": AGENT_DELAY_MS, "times": 2})
    with (
        gateway(config(upstream, agent.base_url)) as gw,
        openai.OpenAI(base_url=f"{gw.url('agent')}/v1", api_key="k", max_retries=0) as c,
    ):
        answer = c.chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
        )
        assert answer.choices[0].message.content == "Done."
        streamed = list(
            c.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}], stream=True
            )
        )
        assert streamed
    lines = log_lines(capsys.readouterr().out, '"POST /v1/chat/completions" 200 solo')
    assert len(lines) == 2
    for line in lines:
        found = dict(re.findall(r"(duration_ms|overhead_ms)=([0-9.]+)", line))
        duration, overhead = float(found["duration_ms"]), float(found["overhead_ms"])
        # The agent's wait (at least its delay) is not the gateway's time.
        assert duration - overhead >= AGENT_DELAY_MS - 0.01, line


def test_models_list_has_the_aliases(upstream: Any, gateway: GatewayFactory) -> None:
    with (
        gateway(config(upstream)) as gw,
        openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c,
    ):
        listed = list(c.models.list())
    models = {m.id: m.owned_by for m in listed}
    roots = {m.id: getattr(m, "root", None) for m in listed}
    assert models == {
        "openai/gpt-4o": "OpenAI",
        "anthropic/claude-sonnet-4": "Anthropic",
        "fast": "plano",
        "smart": "plano",
    }
    assert roots["fast"] == "openai/gpt-4o"
    assert roots["smart"] == "anthropic/claude-sonnet-4"
