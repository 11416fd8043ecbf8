"""The model listener's pipeline, driven through the ASGI app with `MockTransport` (no sockets):
what reaches the upstream, what reaches the client, and that every upstream answer is released."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import orjson
import pytest

from plano.config import load_config_text
from plano.errors import PlanoError, UpstreamBodyBroken, UpstreamConnectFailed
from plano.listeners.app import Gateway, build_app
from plano.observability.record import RequestRecord
from plano.observability.telemetry import RecordSink, Telemetry
from plano.upstream.mock_transport import MockReply, MockRequest, MockTransport

CHAT = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
    }
)
JSON = (("content-type", "application/json"),)
SSE = (("content-type", "text/event-stream"),)


class Records(RecordSink):
    def __init__(self) -> None:
        self.seen: list[RequestRecord] = []

    def write(self, record: RequestRecord) -> None:
        self.seen.append(record)


class Rig:
    def __init__(
        self,
        replies: Sequence[MockReply | PlanoError],
        providers: str = "",
        listener_extra: str = "",
    ) -> None:
        self._replies = list(replies)
        self.transport = MockTransport(self._answer)
        config = load_config_text(
            f"""
version: v0.4.0
listeners:
  - {{name: llm, type: model, address: 127.0.0.1, port: 12000{listener_extra}}}
model_providers:
  - model: openai/gpt-4o
    access_key: sk-upstream
    base_url: http://a.test
    default: true
{providers}
""",
            env={},
        )
        self.records = Records()
        state = build_app(
            config, telemetry=Telemetry(records=[self.records]), transport=self.transport
        )
        self.app = Gateway(state, {12000: state.listeners[0]})

    async def _answer(self, request: MockRequest) -> MockReply:
        reply = self._replies.pop(0)
        if isinstance(reply, PlanoError):
            raise reply
        return reply

    def post(
        self, path: str, doc: Any, headers: Sequence[tuple[bytes, bytes]] = ()
    ) -> tuple[int, dict[bytes, bytes], bytes]:
        body = doc if isinstance(doc, bytes) else orjson.dumps(doc)
        scope = {
            "type": "http",
            "method": "POST",
            "path": path,
            "headers": [(b"content-type", b"application/json"), *headers],
            "server": ("127.0.0.1", 12000),
        }
        sent: list[Any] = []
        disconnect = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if not sent:
                return {"type": "http.request", "body": body, "more_body": False}
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            sent.append(message)

        asyncio.run(self.app(scope, receive, send))
        start = sent[0]
        out = b"".join(m.get("body", b"") for m in sent[1:])
        return start["status"], dict(start["headers"]), out

    @property
    def upstream(self) -> MockRequest:
        (request,) = self.transport.requests
        return request


CHAT_REQUEST = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hello"}]}


def test_passthrough_forwards_the_original_bytes_and_relays_the_answer() -> None:
    rig = Rig([MockReply(200, JSON, CHAT)])
    raw = b'{"model":"gpt-4o",  "messages":[{"role":"user","content":"hello"}]}'
    status, headers, body = rig.post(
        "/v1/chat/completions", raw, [(b"authorization", b"Bearer client-key")]
    )
    assert status == 200 and body == CHAT
    assert rig.upstream.body == raw  # the model id did not change: the bytes are forwarded
    assert rig.upstream.header("authorization") == "Bearer sk-upstream"
    assert headers[b"x-plano-model"] == b"openai/gpt-4o"
    assert rig.upstream.header("x-request-id") == headers[b"x-request-id"].decode()
    (record,) = rig.records.seen
    assert (record.prompt_tokens, record.completion_tokens) == (3, 1)
    assert rig.transport.unreleased == []


def test_a_renamed_model_is_rewritten_in_the_body() -> None:
    rig = Rig([MockReply(200, JSON, CHAT)])
    rig.post("/v1/chat/completions", {**CHAT_REQUEST, "model": "openai/gpt-4o"})
    assert orjson.loads(rig.upstream.body)["model"] == "gpt-4o"


def test_an_anthropic_client_is_translated_both_ways() -> None:
    rig = Rig([MockReply(200, JSON, CHAT)])
    status, _, body = rig.post(
        "/v1/messages",
        {"model": "gpt-4o", "max_tokens": 10, "messages": [{"role": "user", "content": "hello"}]},
    )
    assert status == 200
    assert rig.upstream.url == "http://a.test/v1/chat/completions"
    assert orjson.loads(rig.upstream.body)["messages"] == [{"role": "user", "content": "hello"}]
    answer = orjson.loads(body)
    assert answer["type"] == "message" and answer["content"][0]["text"] == "hi"


def test_a_stream_is_relayed_chunk_by_chunk() -> None:
    chunks = [b'data: {"choices":[{"delta":{"content":"h"}}]}\n\n', b"data: [DONE]\n\n"]
    rig = Rig([MockReply(200, SSE, chunks=chunks)])
    status, headers, body = rig.post("/v1/chat/completions", {**CHAT_REQUEST, "stream": True})
    assert status == 200 and headers[b"content-type"] == b"text/event-stream"
    assert body == b"".join(chunks)
    assert rig.transport.unreleased == []


def test_a_stream_that_breaks_ends_with_an_error_event() -> None:
    chunks = [b'data: {"choices":[{"delta":{"content":"h"}}]}\n\n', UpstreamBodyBroken("reset")]
    rig = Rig([MockReply(200, SSE, chunks=chunks)])
    status, _, body = rig.post("/v1/chat/completions", {**CHAT_REQUEST, "stream": True})
    assert status == 200
    assert body.startswith(chunks[0])  # type: ignore[arg-type]
    last = body.rstrip().split(b"\n\n")[-1]
    assert b'"error"' in last
    (record,) = rig.records.seen
    assert record.error_kind == "stream"
    assert rig.transport.unreleased == []


def test_an_upstream_error_status_is_relayed() -> None:
    rig = Rig([MockReply(500, JSON, b'{"error": {"message": "boom"}}')])
    status, headers, body = rig.post("/v1/chat/completions", CHAT_REQUEST)
    assert (status, body) == (500, b'{"error": {"message": "boom"}}')
    assert headers[b"x-plano-model"] == b"openai/gpt-4o"


def test_an_unreachable_upstream_is_a_502_in_the_client_dialect() -> None:
    rig = Rig([UpstreamConnectFailed("could not connect to upstream a.test")])
    status, headers, body = rig.post(
        "/v1/messages",
        {"model": "gpt-4o", "max_tokens": 10, "messages": [{"role": "user", "content": "x"}]},
    )
    assert status == 502
    assert orjson.loads(body)["type"] == "error"
    assert b"x-request-id" in headers
    (record,) = rig.records.seen
    assert record.error_kind == "connect"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        ({"model": 7, "messages": []}, "`model` must be a string"),
    ],
)
def test_bad_requests_never_reach_the_upstream(doc: Any, message: str) -> None:
    rig = Rig([])
    status, headers, body = rig.post("/v1/chat/completions", doc)
    assert status == 400
    assert message in orjson.loads(body)["error"]["message"]
    assert b"x-request-id" in headers
    assert rig.transport.requests == []


def test_the_default_config_compiles_only_the_stages_it_uses() -> None:
    rig = Rig([])
    handler = rig.app._tables[12000].routes[("POST", "/v1/chat/completions")].handler
    names = handler.__self__.names()  # type: ignore[attr-defined]
    # Route stays: a body may carry inline `routing_preferences` whatever the config says.
    assert names == [
        "ReadBody",
        "DecodeJson",
        "Decode",
        "Route",
        "Build",
        "ModelConversation",  # agentic signals are on by default (reference §9.3)
        "Send",
        "Relay",
        "RememberTurn",
    ]


FILTERED = """
  - model: openai/gpt-4o-mini
    access_key: sk-upstream
    base_url: http://a.test
filters:
  - {id: swap, url: "http://filter.test", type: http}
"""


def test_a_filter_that_changes_the_model_changes_where_the_request_goes() -> None:
    rewritten = orjson.dumps({**CHAT_REQUEST, "model": "gpt-4o-mini", "stream": False})
    rig = Rig(
        [MockReply(200, JSON, rewritten), MockReply(200, JSON, CHAT)],
        FILTERED,
        listener_extra=", input_filters: [swap]",
    )
    status, headers, _ = rig.post("/v1/chat/completions", CHAT_REQUEST)
    assert status == 200
    to_filter, to_model = rig.transport.requests
    assert to_filter.url == "http://filter.test/v1/chat/completions"
    assert orjson.loads(to_model.body)["model"] == "gpt-4o-mini"
    assert headers[b"x-plano-model"] == b"openai/gpt-4o-mini"
    (record,) = rig.records.seen
    assert record.requested_model == "gpt-4o-mini"
