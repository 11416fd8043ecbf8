"""Streams that cannot finish end with the dialect's error event after a whole event: an upstream
cut at any byte offset (property test on the relay), a request cancelled mid-stream (the server's
drain at its deadline: tested by cancelling the request's task, with the real server and SDK),
and the listener's `timeout` running out mid-stream; each is logged with the status of the
error the client read and its `error_kind` (`stream`, `drained`, `deadline`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import openai
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from plano.codec.sse import DONE, encode_event
from plano.codec.sse_scan import last_boundary, split_events
from plano.errors import UpstreamReset
from plano.listeners.model.call import ModelCall
from plano.listeners.model.relay import Relay
from plano.listeners.model.translated import TranslatedExchange
from plano.listeners.types import RequestIds
from plano.observability.record import RequestRecord
from plano.observability.telemetry import Telemetry
from plano.runtime.serve import ThreadedGateway
from plano.upstream.request import Committed
from plano.wire.api import Api
from tests.conftest import GatewayFactory
from tests.faults.conftest import Leaks, on_loop, settled

HI = [{"role": "user", "content": "hi"}]


# -- the relay, cut at every byte offset ---------------------------------------------------------


class _CutResponse:
    """An event stream that arrives in the given pieces, then breaks (a reset)."""

    status = 200
    content_type = "text/event-stream"

    def __init__(self, pieces: list[bytes]) -> None:
        self._pieces = pieces

    async def _play(self) -> AsyncIterator[bytes]:
        for piece in self._pieces:
            yield piece
        raise UpstreamReset("upstream connection reset")

    def chunks(self) -> AsyncIterator[bytes]:
        return self._play()

    def abort(self) -> None:
        pass

    def release(self) -> None:
        pass


def _events(texts: list[str]) -> bytes:
    docs = [{"id": "c1", "choices": [{"index": 0, "delta": {"content": t}}]} for t in texts]
    return b"".join(encode_event(orjson.dumps(d)) for d in docs) + DONE


async def _relay(pieces: list[bytes]) -> tuple[bytes, RequestRecord]:
    record = RequestRecord("llm", "model", "POST", "/v1/chat/completions")
    scope = {"path": "/v1/chat/completions", "plano.record": record, "headers": []}
    sent: list[dict[str, Any]] = []
    never = asyncio.get_running_loop().create_future()

    async def receive() -> dict[str, Any]:
        return await never  # type: ignore[no-any-return]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    call = ModelCall(scope, receive, send, Api.OPENAI_CHAT, RequestIds())
    telemetry = Telemetry()
    relay = Relay(telemetry, TranslatedExchange(telemetry, None), None)
    committed = Committed(_CutResponse(pieces), None)  # type: ignore[arg-type]
    await relay._stream(call, committed, [])
    assert sent[0]["type"] == "http.response.start"
    assert sent[-1].get("more_body", False) is False
    return b"".join(m.get("body", b"") for m in sent[1:]), record


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(st.text(min_size=0, max_size=12), min_size=1, max_size=6),
    data=st.data(),
)
def test_a_stream_cut_at_any_offset_shows_whole_events_then_the_error(
    texts: list[str], data: st.DataObject
) -> None:
    stream = _events(texts)
    offset = data.draw(st.integers(0, len(stream) - 1), label="cut at")
    head = stream[:offset]
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, offset - 1)), max_size=5)))
    pieces = [head[a:b] for a, b in zip([0, *cuts], [*cuts, offset], strict=True) if a < b]
    body, record = asyncio.run(_relay(pieces))
    events = split_events(body)
    *whole, error = events
    assert b"".join(whole) == head[: last_boundary(head)]  # every whole event, nothing more
    assert all(e.endswith(b"\n\n") for e in events)
    assert orjson.loads(error[len(b"data: ") :])["error"]["message"] == "upstream connection reset"
    assert record.error_kind == "stream" and record.status == 502


# -- cancelled and deadline-cut streams, through the server and the SDK -----------------------


def _config(url: str, timeout: str = "20s", model: str = "openai/gpt-4o") -> str:
    return f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 0, timeout: {timeout}}}
model_providers:
  - model: {model}
    access_key: sk-a
    base_url: {url}
    default: true
"""


def _app_tasks(gw: ThreadedGateway) -> list[asyncio.Task[None]]:
    return list(gw.server._shared.tasks)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "model", ["openai/gpt-4o", pytest.param("anthropic/claude-sonnet-4-6", id="translated")]
)
def test_cancelled_stream_ends_with_an_error_event(
    upstream: Any, gateway: GatewayFactory, capsys: pytest.CaptureFixture[str], model: str
) -> None:
    """What the server's drain does at its deadline: the request's task is cancelled while the
    connection is open; the client reads the error event (503), the log says `drained`."""
    after = 2 if model.startswith("openai") else 5  # the chat role chunk and "one "
    upstream.script(
        {"text": "one two three four", "chunks": 4, "fault": "stall_mid_stream"}
        | {"fault_after_chunks": after}
    )
    with gateway(_config(upstream.base_url, model=model)) as gw:
        leaks = Leaks(gw)
        client = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0, timeout=20)
        got: list[Any] = []
        stream = client.chat.completions.create(model="gpt-4o", messages=HI, stream=True)
        with pytest.raises(openai.APIError) as caught:
            for chunk in stream:
                got.append(chunk)
                if len(got) == 2:  # the upstream has stalled after three events
                    assert settled(gw, lambda: len(_app_tasks(gw)) == 1)
                    on_loop(gw, lambda: [t.cancel() for t in _app_tasks(gw)])
        client.close()
        leaks.assert_none()
    assert "shutting down" in str(caught.value)
    log = capsys.readouterr().out
    assert '" 503 llm' in log and "error=drained" in log


def test_deadline_cut_stream_ends_with_an_error_event(
    upstream: Any, gateway: GatewayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """The listener's `timeout` (the whole request's deadline) runs out mid-stream: a 504 error
    event after whole events, logged as `deadline`."""
    upstream.script({"text": "one two three four", "chunks": 4, "fault": "stall_mid_stream"})
    with gateway(_config(upstream.base_url, timeout="500ms")) as gw:
        leaks = Leaks(gw)
        client = openai.OpenAI(base_url=f"{gw.url()}/v1", api_key="k", max_retries=0, timeout=20)
        got: list[Any] = []
        with pytest.raises(openai.APIError) as caught:
            for chunk in client.chat.completions.create(model="gpt-4o", messages=HI, stream=True):
                got.append(chunk)
        client.close()
        leaks.assert_none()
    assert len(got) == 2
    assert "in time" in str(caught.value)
    log = capsys.readouterr().out
    assert '" 504 llm' in log and "error=deadline" in log


def test_agent_stream_cut_midway_ends_with_an_error_event(
    upstream: Any, gateway: GatewayFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """An agent's event stream relayed as it is ends with the chat error event when the agent's
    connection breaks, and is logged with that error's status."""
    upstream.script({"text": "one two three four", "chunks": 4, "fault": "disconnect_mid_stream"})
    text = f"""
version: v0.3.0
agents: [{{id: only, url: {upstream.base_url}}}]
listeners:
  - {{type: agent, name: a, address: 127.0.0.1, port: 0, agents: [{{id: only, description: x}}]}}
model_providers:
  - {{model: openai/gpt-4o, access_key: k, base_url: {upstream.base_url}, default: true}}
"""
    with gateway(text) as gw:
        url = f"{gw.url('agent')}/v1"
        client = openai.OpenAI(base_url=url, api_key="k", max_retries=0, timeout=20)
        got: list[Any] = []
        with pytest.raises(openai.APIError):
            for chunk in client.chat.completions.create(model="gpt-4o", messages=HI, stream=True):
                got.append(chunk)
        client.close()
    assert len(got) == 2
    assert '" 502 a' in capsys.readouterr().out
