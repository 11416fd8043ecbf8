"""Injected upstream faults, seen through the official OpenAI SDK: with a healthy fallback, every
fault before the first streamed byte ends in a successful answer; a fault after it ends the stream
with a clean error event. Each test counts the upstream attempts (the mock's recorded requests)
and checks that no upstream connection or task is left behind."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest

from plano.mock.testing import run_mock_in_thread
from plano.runtime.serve import ThreadedGateway
from tests.conftest import GatewayFactory
from tests.faults.conftest import Leaks, closed_port

pytestmark = pytest.mark.integration

Sdk = Callable[[ThreadedGateway], openai.OpenAI]
HI = [{"role": "user", "content": "hi"}]


def config(primary_url: str, fallback_url: str, *, timeouts: str = "", extra: str = "") -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: 20s}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-a
    base_url: {primary_url}
    default: true
    retry_policy: {{num_retries: 1, base_interval: 1ms, max_interval: 5ms, max_retry_after: 50ms}}
    fallbacks: [openai/gpt-4o-mini]
    {timeouts}
{extra}
  - model: openai/gpt-4o-mini
    access_key: sk-b
    base_url: {fallback_url}
"""


def models_asked(upstream: Any) -> list[str]:
    return [r.body["model"] for r in upstream.requests]


def run(gateway: GatewayFactory, sdk: Sdk, text: str, **kw: Any) -> tuple[Any, list[str], Leaks]:
    with gateway(text) as gw:
        leaks = Leaks(gw)
        client = sdk(gw)
        raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HI, **kw)
        answer = raw.parse()
        served = raw.headers["x-plano-model"]
        client.close()
        leaks.assert_none()
    return answer, [served], leaks


def test_503_once_is_retried_on_the_same_model(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "status": 503})
    answer, served, _ = run(gateway, sdk, config(upstream.base_url, upstream.base_url))
    assert answer.choices[0].message.content
    assert served == ["openai/gpt-4o"]
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o"]


def test_an_answer_no_retry_can_mend_is_relayed_after_one_attempt(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    """A 404 is neither retried nor sent to the fallback: the first attempt's own answer
    reaches the client, and its connection goes back to the pool."""
    upstream.script({"model": "gpt-4o", "status": 404})
    with gateway(config(upstream.base_url, upstream.base_url)) as gw:
        leaks = Leaks(gw)
        client = sdk(gw)
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model="gpt-4o", messages=HI)
        assert caught.value.status_code == 404
        assert caught.value.response.headers["x-plano-model"] == "openai/gpt-4o"
        answer = client.chat.completions.create(model="gpt-4o", messages=HI)
        assert answer.choices[0].message.content
        client.close()
        leaks.assert_none()
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o"]


def test_429_with_long_retry_after_goes_to_the_fallback(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "status": 429, "retry_after": "1"})
    answer, served, _ = run(gateway, sdk, config(upstream.base_url, upstream.base_url))
    assert answer.choices[0].message.content
    assert served == ["openai/gpt-4o-mini"]
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o-mini"]


def test_429_with_short_retry_after_is_retried(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "status": 429, "retry_after": "0"})
    _, served, _ = run(gateway, sdk, config(upstream.base_url, upstream.base_url))
    assert served == ["openai/gpt-4o"]
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o"]


def test_connect_refused_fails_over(upstream: Any, gateway: GatewayFactory, sdk: Sdk) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/v1"
    answer, served, _ = run(gateway, sdk, config(dead, upstream.base_url))
    assert answer.choices[0].message.content
    assert served == ["openai/gpt-4o-mini"]
    assert models_asked(upstream) == ["gpt-4o-mini"]


def test_timeout_before_first_byte_fails_over(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "first_byte_delay_ms": 5000, "times": 0})
    text = config(upstream.base_url, upstream.base_url, timeouts="timeouts: {first_byte: 200ms}")
    _, served, _ = run(gateway, sdk, text)
    assert served == ["openai/gpt-4o-mini"]
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o-mini"]  # a stall is not retried


def test_upstream_that_never_answers_fails_over(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "fault": "hang", "times": 0})
    text = config(upstream.base_url, upstream.base_url, timeouts="timeouts: {first_byte: 200ms}")
    _, served, _ = run(gateway, sdk, text)
    assert served == ["openai/gpt-4o-mini"]
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o-mini"]  # a stall is not retried


@pytest.mark.parametrize(
    "fault",
    [
        pytest.param("disconnect_before_response", id="reset_before_the_response"),
        pytest.param("disconnect_mid_stream", id="unstreamed_body_cut_midway"),
        pytest.param("malformed_chunk", id="malformed_unstreamed_body"),
    ],
)
def test_broken_answer_is_retried(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk, fault: str
) -> None:
    upstream.script({"model": "gpt-4o", "fault": fault})
    _, served, _ = run(gateway, sdk, config(upstream.base_url, upstream.base_url))
    assert served == ["openai/gpt-4o"]
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o"]


def test_slow_drip_body_fails_over(upstream: Any, gateway: GatewayFactory, sdk: Sdk) -> None:
    upstream.script({"model": "gpt-4o", "fault": "slow_drip", "chunk_delay_ms": 50, "times": 0})
    text = config(upstream.base_url, upstream.base_url, timeouts="timeouts: {first_byte: 300ms}")
    _, served, _ = run(gateway, sdk, text)
    assert served == ["openai/gpt-4o-mini"]
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o", "gpt-4o-mini"]


def test_reset_mid_stream_ends_with_an_error_event(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "fault": "disconnect_mid_stream", "chunks": 6})
    opt_out = "    stream_continuation: false"  # continued: tests/faults/test_stream_*.py
    with gateway(config(upstream.base_url, upstream.base_url, extra=opt_out)) as gw:
        leaks = Leaks(gw)
        client = sdk(gw)
        got: list[Any] = []
        with pytest.raises(openai.APIError) as caught:
            for chunk in client.chat.completions.create(model="gpt-4o", messages=HI, stream=True):
                got.append(chunk)
        client.close()
        leaks.assert_none()
    assert got, "the stream had started before the fault"
    assert "upstream" in str(caught.value)
    assert models_asked(upstream) == ["gpt-4o"]  # never retried after the first byte


def test_stalled_stream_is_cut_with_an_error_event(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"model": "gpt-4o", "chunks": 4, "chunk_delay_ms": 5000})
    text = config(
        upstream.base_url,
        upstream.base_url,
        timeouts="timeouts: {idle: 200ms}",
        extra="    stream_continuation: false",  # continued: tests/faults/test_stream_*.py
    )
    with gateway(text) as gw:
        leaks = Leaks(gw)
        client = sdk(gw)
        got: list[Any] = []
        with pytest.raises(openai.APIError) as caught:
            for chunk in client.chat.completions.create(model="gpt-4o", messages=HI, stream=True):
                got.append(chunk)
        client.close()
        leaks.assert_none()
    assert got
    assert "in time" in str(caught.value)
    assert models_asked(upstream) == ["gpt-4o"]


def test_slow_drip_stream_completes(upstream: Any, gateway: GatewayFactory, sdk: Sdk) -> None:
    upstream.script({"model": "gpt-4o", "fault": "slow_drip", "text": "drip"})
    text = config(upstream.base_url, upstream.base_url, timeouts="timeouts: {idle: 2s}")
    with gateway(text) as gw:
        client = sdk(gw)
        stream = client.chat.completions.create(model="gpt-4o", messages=HI, stream=True)
        text_out = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        client.close()
    assert text_out == "drip"


def test_one_of_three_endpoints_dead(upstream: Any, gateway: GatewayFactory, sdk: Sdk) -> None:
    with run_mock_in_thread() as dead:
        dead.script({"status": 503, "times": 0})
        extra = f"""    endpoints:
      - {{base_url: {dead.base_url}}}
      - {{base_url: {upstream.base_url}}}
      - {{base_url: {upstream.base_url}, access_key: sk-c}}
    outlier_detection: {{consecutive_failures: 1, base_ejection_time: 60s}}"""
        text = config(upstream.base_url, upstream.base_url, extra=extra).replace(
            "num_retries: 1", "num_retries: 2"
        )
        with gateway(text) as gw:
            leaks = Leaks(gw)
            client = sdk(gw)
            for _ in range(6):
                raw = client.chat.completions.with_raw_response.create(model="gpt-4o", messages=HI)
                assert raw.headers["x-plano-model"] == "openai/gpt-4o"
            client.close()
            leaks.assert_none()
        dead_hits = len(dead.requests)
    assert dead_hits == 1  # ejected after its first failure
    assert models_asked(upstream) == ["gpt-4o"] * 6
    keys = {r.headers["authorization"] for r in upstream.requests}
    assert keys == {"Bearer sk-a", "Bearer sk-c"}  # both live endpoints served


def test_everything_down_reports_the_upstream_error(
    upstream: Any, gateway: GatewayFactory, sdk: Sdk
) -> None:
    upstream.script({"status": 503, "times": 0})
    with gateway(config(upstream.base_url, upstream.base_url)) as gw:
        client = sdk(gw)
        with pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="gpt-4o", messages=HI)
        client.close()
    assert caught.value.status_code == 503
    assert models_asked(upstream) == ["gpt-4o", "gpt-4o", "gpt-4o-mini"]
