"""Tracing end to end: the OpenAI SDK with a W3C traceparent -> gateway -> fake upstream, spans
exported over OTLP to a real `plano trace listen` process, read back with `plano trace --json`."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import GatewayFactory

pytestmark = pytest.mark.integration

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"
WAIT_SECONDS = 20.0


@dataclass
class Receiver:
    proc: subprocess.Popen[str]
    grpc_port: int
    http_port: int
    env: dict[str, str]

    def traces(self, **params: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        url = f"http://127.0.0.1:{self.http_port}/api/traces?{query}"
        with urllib.request.urlopen(url, timeout=5) as resp:
            found: list[dict[str, Any]] = json.loads(resp.read())["traces"]
            return found

    def wait_for(self, trace_id: str, spans: int = 1) -> dict[str, Any]:
        """Poll the query API until the trace has `spans` spans (bounded)."""
        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            found = self.traces(trace_id=trace_id)
            if found and found[0]["span_count"] >= spans:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"trace {trace_id} never reached the receiver: {found}")
            time.sleep(0.05)

    def plano_trace(self, *args: str) -> subprocess.CompletedProcess[str]:
        return plano("trace", *args, env={**self.env, "PLANO_TRACE_PORT": str(self.http_port)})


def plano(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plano", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ready_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """The first stdout line of a starting process, waiting at most `timeout` seconds."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError("`plano trace listen` did not announce itself")
    return proc.stdout.readline()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    e = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    e["PLANO_HOME"] = str(tmp_path / "home")
    return e


@pytest.fixture
def receiver(env: dict[str, str]) -> Iterator[Receiver]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "plano",
            "trace",
            "listen",
            "--foreground",
            "--grpc-port",
            "0",
            "--http-port",
            "0",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = ready_line(proc, WAIT_SECONDS)
        # "plano trace listening: OTLP gRPC 127.0.0.1:P1, OTLP HTTP and query http://127.0.0.1:P2"
        assert "plano trace listening" in line, line + (proc.stderr.read() if proc.stderr else "")
        grpc_port = int(line.split("OTLP gRPC ")[1].split(",")[0].rsplit(":", 1)[1])
        http_port = int(line.rstrip().rsplit(":", 1)[1])
        yield Receiver(proc, grpc_port, http_port, env)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=15)
    assert proc.returncode == 0


def config(upstream: Any, receiver: Receiver | None, sampling: int = 100) -> str:
    endpoint = f"http://127.0.0.1:{receiver.grpc_port}" if receiver else "http://127.0.0.1:9"
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 5s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}
    default: true
model_aliases:
  fast: {{target: openai/gpt-4o}}
tracing:
  random_sampling: {sampling}
  opentracing_grpc_endpoint: {endpoint}
  span_attributes:
    header_prefixes: [x-acme-]
    static: {{deployment: test}}
"""


def client(gw: Any, traceparent: str | None) -> openai.OpenAI:
    headers = {"x-acme-tenant-id": "t-42"}
    if traceparent:
        headers["traceparent"] = traceparent
    return openai.OpenAI(
        base_url=f"{gw.url()}/v1", api_key="k", max_retries=0, default_headers=headers
    )


def upstream_parent(request: Any) -> tuple[str, str, str]:
    version, trace_id, parent_id, flags = request.headers["traceparent"].split("-")
    assert version == "00"
    return trace_id, parent_id, flags


def test_one_trace_per_request_from_client_to_upstream(
    upstream: Any, gateway: GatewayFactory, receiver: Receiver
) -> None:
    client_tp = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
    other_trace = "0123456789abcdef0123456789abcdef"
    with gateway(config(upstream, receiver)) as gw:
        with client(gw, client_tp) as c:
            answer = c.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
        assert answer.choices[0].message.content
        with client(gw, f"00-{other_trace}-{CLIENT_SPAN}-01") as c:
            chunks = list(
                c.chat.completions.create(
                    model="fast",
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                    stream_options={"include_usage": True},
                )
            )
        assert chunks
        with client(gw, None) as c:
            c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
        sent = upstream.wait_for_requests(3)
    # The gateway has shut down: its spans were flushed to the receiver on the way out.

    # Non-streaming: the gateway's span is the client's span's child, the upstream's parent.
    t = receiver.wait_for(CLIENT_TRACE)
    (span,) = t["spans"]
    assert span["trace_id"] == CLIENT_TRACE
    assert span["parent_span_id"] == CLIENT_SPAN
    assert upstream_parent(sent[0]) == (CLIENT_TRACE, span["span_id"], "01")
    assert span["name"] == "POST /v1/chat/completions gpt-4o"
    assert span["service"] == "plano(llm)"
    assert span["kind"] == "server"
    attrs = span["attributes"]
    assert attrs["llm.model"] == "openai/gpt-4o"
    assert attrs["llm.provider"] == "openai"
    assert attrs["model.requested"] == "gpt-4o"
    assert attrs["http.status_code"] == 200
    assert answer.usage is not None
    assert attrs["llm.usage.total_tokens"] == answer.usage.total_tokens
    assert attrs["tenant.id"] == "t-42"
    assert attrs["deployment"] == "test"
    assert attrs["request_id"] == sent[0].headers["x-request-id"]
    assert "sk-upstream-secret" not in json.dumps(t)

    # Streaming, through an alias: time to first token, and the name shows the resolution.
    s = receiver.wait_for(other_trace)["spans"][0]
    assert upstream_parent(sent[1]) == (other_trace, s["span_id"], "01")
    assert s["name"] == "POST /v1/chat/completions fast -> openai/gpt-4o"
    assert s["attributes"]["llm.is_streaming"] is True
    assert isinstance(s["attributes"]["llm.time_to_first_token"], int)
    assert [e["name"] for e in s["events"]] == ["llm.time_to_first_token"]

    # Without a client context the gateway starts the trace, and the upstream joins it.
    new_trace, new_parent, _ = upstream_parent(sent[2])
    assert new_trace not in (CLIENT_TRACE, other_trace)
    root = receiver.wait_for(new_trace)["spans"][0]
    assert (root["span_id"], root["parent_span_id"]) == (new_parent, "")

    # The query command reads the same trace back.
    shown = receiver.plano_trace(CLIENT_TRACE, "--json")
    assert shown.returncode == 0, shown.stderr
    (listed,) = json.loads(shown.stdout)["traces"]
    assert listed["spans"][0]["span_id"] == span["span_id"]
    short = receiver.plano_trace(CLIENT_TRACE[:8])
    assert short.returncode == 0, short.stderr
    assert f"trace {CLIENT_TRACE}" in short.stdout
    assert "POST /v1/chat/completions gpt-4o  plano(llm)" in short.stdout
    listing = receiver.plano_trace("any", "--list", "--model", "openai/*")
    assert listing.returncode == 0, listing.stderr
    assert len(listing.stdout.splitlines()) == 3


def test_sampling_zero_forwards_the_client_context_unchanged(
    upstream: Any, gateway: GatewayFactory
) -> None:
    client_tp = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"
    with gateway(config(upstream, None, sampling=0)) as gw, client(gw, client_tp) as c:
        c.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    (sent,) = upstream.wait_for_requests(1)
    assert sent.headers["traceparent"] == client_tp


def test_listen_in_the_background_then_down(env: dict[str, str]) -> None:
    started = plano("trace", "listen", "--grpc-port", "0", "--http-port", "0", env=env)
    assert started.returncode == 0, started.stderr
    assert "trace receiver up" in started.stdout
    record = json.loads((Path(env["PLANO_HOME"]) / "run" / "trace.pid").read_text())
    again = plano("trace", "listen", env=env)
    assert "already running" in again.stdout
    # The query command finds the background receiver through its pid file.
    empty = plano("trace", "--json", env=env)
    assert empty.returncode == 1
    assert json.loads(empty.stdout) == {"traces": []}
    stopped = plano("trace", "down", env=env)
    assert stopped.returncode == 0, stopped.stderr
    assert f"pid {record['pid']}" in stopped.stdout
    with pytest.raises(ProcessLookupError):
        os.kill(record["pid"], 0)


def genai_config(upstream: Any, receiver: Receiver, span_names: str = "plano") -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 5s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}
    default: true
  - model: anthropic/claude-sonnet-4
    access_key: sk-ant-secret
    base_url: {upstream.base_url}
tracing:
  random_sampling: 100
  opentracing_grpc_endpoint: http://127.0.0.1:{receiver.grpc_port}
  span_names: {span_names}
"""


def traced_headers(trace_id: str) -> dict[str, str]:
    return {"traceparent": f"00-{trace_id}-{CLIENT_SPAN}-01"}


def test_llm_spans_carry_the_genai_attributes(
    upstream: Any, gateway: GatewayFactory, receiver: Receiver
) -> None:
    """The OpenAI SDK (whole, streamed without asking for usage) and the Anthropic SDK
    (passthrough, and translated to an OpenAI upstream, streamed): each span at the receiver
    has the OTel GenAI names beside the original's."""
    traces = [f"{i:032x}" for i in range(0xA1, 0xA5)]
    with gateway(genai_config(upstream, receiver)) as gw:
        with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c:
            whole = c.chat.completions.create(
                model="gpt-4o",
                messages=[{"role": "user", "content": "hi"}],
                max_tokens=50,
                temperature=0.5,
                top_p=0.9,
                extra_headers=traced_headers(traces[0]),
            )
            streamed = list(
                c.chat.completions.create(
                    model="gpt-4o",
                    messages=[{"role": "user", "content": "hi"}],
                    stream=True,
                    extra_headers=traced_headers(traces[1]),
                )
            )
        with anthropic.Anthropic(base_url=gw.url(), api_key="k", max_retries=0) as a:
            message = a.messages.create(
                model="claude-sonnet-4",
                max_tokens=64,
                messages=[{"role": "user", "content": "hi"}],
                extra_headers=traced_headers(traces[2]),
            )
            with a.messages.stream(
                model="openai/gpt-4o",
                max_tokens=32,
                messages=[{"role": "user", "content": "hi"}],
                extra_headers=traced_headers(traces[3]),
            ) as s:
                translated = s.get_final_message()
    spans = [receiver.wait_for(t)["spans"][0]["attributes"] for t in traces]

    w = spans[0]
    assert w["gen_ai.operation.name"] == "chat"
    assert w["gen_ai.provider.name"] == "openai"
    assert w["gen_ai.request.model"] == "gpt-4o"
    assert w["gen_ai.response.model"] == whole.model
    assert w["gen_ai.response.id"] == whole.id
    assert w["gen_ai.response.finish_reasons"] == [whole.choices[0].finish_reason]
    assert whole.usage is not None
    assert w["gen_ai.usage.input_tokens"] == whole.usage.prompt_tokens
    assert w["gen_ai.usage.output_tokens"] == whole.usage.completion_tokens
    assert w["gen_ai.request.max_tokens"] == 50
    assert w["gen_ai.request.temperature"] == 0.5
    assert w["gen_ai.request.top_p"] == 0.9
    assert w["llm.usage.total_tokens"] == whole.usage.total_tokens  # the original's, still there

    st = spans[1]
    assert st["gen_ai.response.id"] == streamed[0].id
    assert st["gen_ai.response.finish_reasons"] == [streamed[-1].choices[0].finish_reason]
    assert all(chunk.usage is None for chunk in streamed)  # the client did not ask for usage
    assert st["gen_ai.usage.output_tokens"] > 0  # the gateway did

    m = spans[2]
    assert m["gen_ai.provider.name"] == "anthropic"
    assert m["gen_ai.request.model"] == "claude-sonnet-4"
    assert m["gen_ai.response.id"] == message.id
    assert m["gen_ai.response.finish_reasons"] == [message.stop_reason]
    assert m["gen_ai.usage.input_tokens"] == message.usage.input_tokens
    assert m["gen_ai.request.max_tokens"] == 64

    t = spans[3]
    assert t["gen_ai.provider.name"] == "openai"
    assert t["gen_ai.request.model"] == "gpt-4o"
    assert t["gen_ai.response.finish_reasons"] == [translated.stop_reason]
    assert t["gen_ai.usage.output_tokens"] == translated.usage.output_tokens


def test_genai_span_names_option(
    upstream: Any, gateway: GatewayFactory, receiver: Receiver
) -> None:
    trace = "b" * 32
    with (
        gateway(genai_config(upstream, receiver, span_names="genai")) as gw,
        openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c,
    ):
        c.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "hi"}],
            extra_headers=traced_headers(trace),
        )
    span = receiver.wait_for(trace)["spans"][0]
    assert span["name"] == "chat gpt-4o"
    assert span["attributes"]["http.path"] == "/v1/chat/completions"
