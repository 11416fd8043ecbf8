"""Streams have their token counts even when the client did not ask for usage: the gateway asks
the OpenAI-compatible upstream (`stream_options.include_usage`) and strips what the client did
not ask for. Driven with the OpenAI SDK; the raw bytes are checked with urllib."""

from __future__ import annotations

import urllib.request
from typing import Any

import openai
import orjson
import pytest

from tests.conftest import GatewayFactory
from tests.integration.test_metrics import scrape_until, value

pytestmark = pytest.mark.integration


def post_raw(url: str, doc: dict[str, Any]) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, data=orjson.dumps(doc), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, resp.read()


MESSAGES = [{"role": "user", "content": "hi"}]
USAGE = {"prompt_tokens": 13, "completion_tokens": 8}
GPT = {"provider": "openai", "model": "gpt-4o"}


def config(upstream: Any) -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 20s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-upstream-secret
    base_url: {upstream.base_url}
    default: true
"""


def test_stream_without_include_usage_is_counted_and_unchanged(
    upstream: Any, gateway: GatewayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    upstream.script({"usage": USAGE, "text": "a b c", "chunks": 3, "times": 0})
    with gateway(config(upstream)) as gw:
        with openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c:
            chunks = list(c.chat.completions.create(model="gpt-4o", messages=MESSAGES, stream=True))
        assert chunks
        assert all(ch.usage is None for ch in chunks)  # no usage chunk reached the client
        assert all(ch.choices for ch in chunks)  # and no usage-only (`choices: []`) chunk
        # The bytes themselves carry no usage field at all (not even `"usage":null`).
        status, raw = post_raw(
            f"{gw.url()}/v1/chat/completions",
            {"model": "gpt-4o", "messages": MESSAGES, "stream": True},
        )
        assert status == 200
        assert b'"usage"' not in raw
        assert raw.rstrip().endswith(b"data: [DONE]")
        s = scrape_until(
            gw.admin_url,
            lambda s: value(s, "brightstaff_llm_tokens_total", **GPT, kind="prompt") == 26,
        )
    # The upstream was asked for usage on the client's behalf.
    sent = upstream.requests
    assert all(r.body["stream_options"] == {"include_usage": True} for r in sent)
    assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="prompt") == 26
    assert value(s, "brightstaff_llm_tokens_total", **GPT, kind="completion") == 16
    log = [line for line in capsys.readouterr().out.splitlines() if "stream=true" in line]
    assert len(log) == 2
    assert all("tokens=13/8" in line for line in log), log


def test_stream_with_include_usage_keeps_it(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"usage": USAGE, "text": "a b", "chunks": 2})
    with (
        gateway(config(upstream)) as gw,
        openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0) as c,
    ):
        chunks = list(
            c.chat.completions.create(
                model="gpt-4o",
                messages=MESSAGES,
                stream=True,
                stream_options={"include_usage": True, "continuous_usage_stats": False},
            )
        )
    usage = chunks[-1].usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (13, 8)
    assert chunks[-1].choices == []
    (sent,) = upstream.requests
    assert sent.body["stream_options"] == {
        "include_usage": True,
        "continuous_usage_stats": False,
    }


def test_other_stream_options_are_kept(upstream: Any, gateway: GatewayFactory) -> None:
    upstream.script({"usage": USAGE})
    with gateway(config(upstream)) as gw:
        status, raw = post_raw(
            f"{gw.url()}/v1/chat/completions",
            {
                "model": "gpt-4o",
                "messages": MESSAGES,
                "stream": True,
                "stream_options": {"include_usage": False, "continuous_usage_stats": False},
            },
        )
    assert status == 200
    assert b'"usage"' not in raw
    (sent,) = upstream.requests
    assert sent.body["stream_options"] == {
        "include_usage": True,
        "continuous_usage_stats": False,
    }
